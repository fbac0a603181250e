import { describe, expect, it } from 'vitest';
import { createLogger, type LoggerOptions } from './logger.js';

function capture(opts: LoggerOptions = {}) {
  const lines: string[] = [];
  const log = createLogger({ now: () => new Date('2026-01-02T03:04:05.000Z'), write: (l) => lines.push(l), ...opts });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('writes one JSON object per line with ts, level, msg and fields', () => {
    const { log, lines, parsed } = capture();
    log.info('started', { port: 8080 });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    expect(lines[0]!.indexOf('\n')).toBe(lines[0]!.length - 1);
    expect(parsed()[0]).toEqual({ ts: '2026-01-02T03:04:05.000Z', level: 'info', msg: 'started', port: 8080 });
  });

  it('filters by level', () => {
    const { log, parsed } = capture({ level: 'warn' });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(parsed().map((p) => p.level)).toEqual(['warn', 'error']);
    const silent = capture({ level: 'silent' });
    silent.log.error('nothing');
    expect(silent.lines).toEqual([]);
    expect(() => createLogger({ level: 'loud' as never })).toThrow(/level must be one of/);
  });

  it('child loggers add bindings; fields cannot override ts/level/msg', () => {
    const { log, parsed } = capture({ bindings: { app: 'berth' } });
    const child = log.child({ component: 'gateway' }).child({ deployment: 'd1' });
    child.info('routed', { level: 'fake', status: 200 });
    log.info('root');
    expect(parsed()[0]).toEqual({ ts: '2026-01-02T03:04:05.000Z', level: 'info', msg: 'routed', app: 'berth', component: 'gateway', deployment: 'd1', status: 200 });
    expect(parsed()[1]).not.toHaveProperty('component');
  });

  it('serialises errors, bigints and cycles', () => {
    const { log, parsed } = capture();
    const err = Object.assign(new Error('nope'), { code: 'ENOENT' });
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    log.error('failed', { err, n: 10n, cyclic });
    const p = parsed()[0]!;
    expect(p.err).toMatchObject({ name: 'Error', message: 'nope', code: 'ENOENT' });
    expect(String((p.err as { stack: string }).stack)).toContain('nope');
    expect(p.n).toBe('10');
    expect(p.cyclic).toEqual({ a: 1, self: '[Circular]' });
  });
});
