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
