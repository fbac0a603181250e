import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryIdempotencyStore } from '../store/memory-idempotency.js';
import { Idempotency, requestHash } from './idempotency.js';

const body = (value: string, name = 'svc') => ({ name, spec: { type: 'url', endpoint: 'https://x/mcp', headers: { Authorization: `Bearer ${value}` } }, secrets: { API_KEY: value } });

describe('Idempotency', () => {
  it('replays the first answer to a retry, refuses the key for another request, and runs again after a failure', async () => {
    const idem = new Idempotency({ store: new MemoryIdempotencyStore(), ttlMs: 60_000 });
    let runs = 0;
    const create = async () => ({ statusCode: 201, body: { id: `d${++runs}` } });
    expect(await idem.run('tok', 'k1', body('s1'), create)).toStrictEqual({ statusCode: 201, body: { id: 'd1' }, replayed: false });
    expect(await idem.run('tok', 'k1', body('s1'), create)).toStrictEqual({ statusCode: 201, body: { id: 'd1' }, replayed: true });
    await expect(idem.run('tok', 'k1', body('s1', 'other'), create)).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    await expect(idem.run('tok', 'k2', body('s1'), () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect((await idem.run('tok', 'k2', body('s1'), create)).body).toStrictEqual({ id: 'd2' });
    expect(await idem.run('other-token', 'k1', body('s1'), create)).toMatchObject({ replayed: false });
    await expect(idem.run('tok', 'has space', body('s1'), create)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('stores no hash of secret values: only their names count', () => {
    expect(requestHash(body('first-secret'))).toBe(requestHash(body('another-secret')));
    expect(requestHash(body('first-secret'))).not.toBe(createHash('sha256').update(JSON.stringify(body('first-secret'))).digest('hex'));
    expect(requestHash(body('s', 'a'))).not.toBe(requestHash(body('s', 'b')));
    expect(requestHash({ ...body('s'), secrets: { OTHER_KEY: 's' } })).not.toBe(requestHash(body('s')));
  });
});
