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

  it('reads the replay log caps, and refuses ones out of range', () => {
    expect(loadConfig({})).toMatchObject({ replayEvents: 128, replayBytes: 65_536 });
    expect(loadConfig({ BERTH_REPLAY_EVENTS: '16', BERTH_REPLAY_BYTES: '4096' })).toMatchObject({ replayEvents: 16, replayBytes: 4096 });
    expect(() => loadConfig({ BERTH_REPLAY_EVENTS: '0' })).toThrow(/BERTH_REPLAY_EVENTS/);
    expect(() => loadConfig({ BERTH_REPLAY_BYTES: '10' })).toThrow(/BERTH_REPLAY_BYTES/);
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

  it('parses database targets', () => {
    expect(databaseTarget('sqlite:/a/b.db')).toEqual({ kind: 'sqlite', path: '/a/b.db' });
    expect(databaseTarget('postgres://u@h/db')).toEqual({ kind: 'postgres', url: 'postgres://u@h/db' });
    expect(() => databaseTarget('mysql://x')).toThrow(/sqlite: or postgres/);
  });
});
