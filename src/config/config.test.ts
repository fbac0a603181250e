import { describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.js';
import { databaseTarget, loadConfig } from './config.js';

describe('config', () => {
  it('gives working defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.host).toBe('127.0.0.1');
    expect(c.databaseUrl).toMatch(/^sqlite:\/.*\.berth\/berth\.db$/);
    expect(c.publicUrl).toBe('http://127.0.0.1:8080');
    expect(c.sandbox).toBe('auto');
  });

  it('reads BERTH_* variables and coerces numbers', () => {
    const c = loadConfig({ BERTH_PORT: '9001', BERTH_DATA_DIR: '/tmp/x', BERTH_PUBLIC_URL: 'https://mcp.example.com/' });
    expect(c.port).toBe(9001);
    expect(c.dataDir).toBe('/tmp/x');
    expect(c.databaseUrl).toBe('sqlite:/tmp/x/berth.db');
    expect(c.publicUrl).toBe('https://mcp.example.com');
  });

  it('names every bad variable in one error', () => {
    let err: unknown;
    try {
      loadConfig({ BERTH_PORT: 'eighty', BERTH_SANDBOX: 'maybe', BERTH_API_TOKEN: 'short' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    const msg = (err as BerthError).message;
    expect((err as BerthError).code).toBe('CONFIG_INVALID');
    expect(msg).toContain('BERTH_PORT');
    expect(msg).toContain('BERTH_SANDBOX');
    expect(msg).toContain('BERTH_API_TOKEN');
  });

  it('reads BERTH_REMOTE_ALLOW (default: nothing beyond public addresses), and refuses entries that are no keyword, address or CIDR', () => {
    expect(loadConfig({}).remoteAllow).toEqual([]);
    expect(loadConfig({ BERTH_REMOTE_ALLOW: ' loopback, private,10.1.0.0/16 , fd12::/16,192.0.2.7' }).remoteAllow).toEqual(['loopback', 'private', '10.1.0.0/16', 'fd12::/16', '192.0.2.7']);
    for (const bad of ['everything', '10.0.0.0/33', 'fd12::/129', '10.0.0/8', '10.0.0.0/8/1', 'localhost']) {
      expect(() => loadConfig({ BERTH_REMOTE_ALLOW: bad }), bad).toThrow(/BERTH_REMOTE_ALLOW/);
    }
  });

  it('reads the replay log caps, and refuses ones out of range', () => {
    expect(loadConfig({})).toMatchObject({ replayEvents: 128, replayBytes: 65_536 });
    expect(loadConfig({ BERTH_REPLAY_EVENTS: '16', BERTH_REPLAY_BYTES: '4096' })).toMatchObject({ replayEvents: 16, replayBytes: 4096 });
    expect(() => loadConfig({ BERTH_REPLAY_EVENTS: '0' })).toThrow(/BERTH_REPLAY_EVENTS/);
    expect(() => loadConfig({ BERTH_REPLAY_BYTES: '10' })).toThrow(/BERTH_REPLAY_BYTES/);
  });

  it('keeps the master key settings: a key file under the data dir by default, or BERTH_MASTER_KEY, not both', () => {
    const defaults = loadConfig({ BERTH_DATA_DIR: '/tmp/x' });
    expect(defaults.masterKeyFile).toBe('/tmp/x/master.key');
    expect(defaults.masterKey).toBeUndefined();
    expect(loadConfig({ BERTH_MASTER_KEY_FILE: '/etc/berth/key' }).masterKeyFile).toBe('/etc/berth/key');
    const key = 'k'.repeat(44);
    expect(loadConfig({ BERTH_MASTER_KEY: key, BERTH_PREVIOUS_MASTER_KEY: 'p'.repeat(44) })).toMatchObject({ masterKey: key, previousMasterKey: 'p'.repeat(44) });
    let err: unknown;
    try {
      loadConfig({ BERTH_MASTER_KEY: key, BERTH_MASTER_KEY_FILE: '/etc/berth/key' });
    } catch (e) {
      err = e;
    }
    expect((err as BerthError).code).toBe('CONFIG_INVALID');
    expect((err as BerthError).message).toContain('BERTH_MASTER_KEY_FILE');
    expect((err as BerthError).message).not.toContain(key);
  });

  it('reads the sandbox settings: safe defaults, mount roots, host network, server limits within their maximums', () => {
    expect(loadConfig({})).toMatchObject({
      sandboxHostNetwork: 'deny',
      mountRoots: [],
      limits: 'auto',
      serverMemoryMb: 512,
      serverPids: 256,
      serverCpus: 1,
      serverMaxMemoryMb: 8192,
      serverMaxPids: 4096,
      serverMaxCpus: 4,
    });
    const c = loadConfig({ BERTH_MOUNT_ROOTS: '/srv/mcp, /data', BERTH_SANDBOX_HOST_NETWORK: 'allow', BERTH_LIMITS: 'cgroup', BERTH_SERVER_CPUS: '0.5', BERTH_SERVER_MEMORY_MB: '1024' });
    expect(c).toMatchObject({ mountRoots: ['/srv/mcp', '/data'], sandboxHostNetwork: 'allow', limits: 'cgroup', serverCpus: 0.5, serverMemoryMb: 1024 });
    expect(() => loadConfig({ BERTH_MOUNT_ROOTS: 'relative/dir' })).toThrow(/BERTH_MOUNT_ROOTS: must be a comma list of absolute paths/);
    expect(() => loadConfig({ BERTH_SANDBOX_HOST_NETWORK: 'yes' })).toThrow(/BERTH_SANDBOX_HOST_NETWORK/);
    expect(() => loadConfig({ BERTH_SERVER_PIDS: '5000' })).toThrow(/BERTH_SERVER_PIDS: 5000 is above BERTH_SERVER_MAX_PIDS \(4096\)/);
    expect(() => loadConfig({ BERTH_SERVER_CPUS: '0' })).toThrow(/BERTH_SERVER_CPUS/);
  });

  it('reads the abuse limits, with defaults a single-machine Berth never hits, and refuses ones that cannot work together', () => {
    expect(loadConfig({})).toMatchObject({
      headersTimeoutS: 20,
      bodyTimeoutS: 120,
      idleTimeoutS: 60,
      maxConnectionsPerAddress: 4096,
      clientBufferBytes: 8 * 1024 * 1024,
      clientDrainTimeoutS: 30,
      outboundBudgetBytes: 256 * 1024 * 1024,
      bodyBudgetBytes: 32 * 1024 * 1024,
      stdinBufferBytes: 4 * 1024 * 1024,
      sessionEvictAfterS: 30,
      ratePerToken: 10_000,
      burstPerToken: 20_000,
      ratePerDeployment: 20_000,
      burstPerDeployment: 40_000,
    });
    const c = loadConfig({});
    // No cap of their own unless set: the edge derives the connection cap from the open-file limit, sessions use BERTH_MAX_SESSIONS.
    expect([c.maxConnections, c.maxSessionsPerToken, c.maxSessionsPerAddress]).toEqual([undefined, undefined, undefined]);
    expect(loadConfig({ BERTH_MAX_CONNECTIONS: '100', BERTH_RATE_PER_TOKEN: '0', BERTH_MAX_SESSIONS_PER_ADDRESS: '5' })).toMatchObject({ maxConnections: 100, ratePerToken: 0, maxSessionsPerAddress: 5 });
    // The idle timeout must stay above the 25 s SSE keepalive.
    expect(() => loadConfig({ BERTH_IDLE_TIMEOUT_S: '20' })).toThrow(/BERTH_IDLE_TIMEOUT_S/);
    expect(() => loadConfig({ BERTH_HEADERS_TIMEOUT_S: '30', BERTH_BODY_TIMEOUT_S: '10' })).toThrow(/BERTH_HEADERS_TIMEOUT_S: must not exceed BERTH_BODY_TIMEOUT_S/);
    expect(() => loadConfig({ BERTH_BODY_BUDGET_BYTES: '2048', BERTH_MAX_BODY_BYTES: '4096' })).toThrow(/BERTH_BODY_BUDGET_BYTES: must be at least BERTH_MAX_BODY_BYTES/);
  });

  it('parses database targets', () => {
    expect(databaseTarget('sqlite:/a/b.db')).toEqual({ kind: 'sqlite', path: '/a/b.db' });
    expect(databaseTarget('postgres://u@h/db')).toEqual({ kind: 'postgres', url: 'postgres://u@h/db' });
    expect(() => databaseTarget('mysql://x')).toThrow(/sqlite: or postgres/);
  });
});
