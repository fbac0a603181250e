import { describe, expect, it } from 'vitest';
import { MIN_REDACTED_LENGTH, REDACTED, Redactor } from './redactor.js';

describe('Redactor', () => {
  it("masks a deployment's own values and global ones, not another deployment's", () => {
    const r = new Redactor();
    r.addGlobal(['global-token-123']);
    r.addDeployment('dep-a', ['alpha-secret-value']);
    r.addDeployment('dep-b', ['bravo-secret-value']);
    expect(r.redact('a=alpha-secret-value g=global-token-123 b=bravo-secret-value', 'dep-a')).toBe(`a=${REDACTED} g=${REDACTED} b=bravo-secret-value`);
    expect(r.redact('alpha-secret-value bravo-secret-value', 'dep-c')).toBe('alpha-secret-value bravo-secret-value');
    expect(r.redact('alpha-secret-value bravo-secret-value global-token-123')).toBe(`${REDACTED} ${REDACTED} ${REDACTED}`);
  });

  it('masks the JSON-escaped, base64 and URL-encoded forms, and each line of a multi-line value', () => {
    const value = 'p"a\\ss/wörd+=?&';
    const pem = '-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9\n-----END KEY-----';
    const r = new Redactor();
    r.addDeployment('d', [value, pem]);
    const line = `${JSON.stringify({ v: value })} ${Buffer.from(value).toString('base64')} ${encodeURIComponent(value)} ${value}`;
    const out = r.redact(line, 'd');
    expect(out).toBe(`{"v":"${REDACTED}"} ${REDACTED} ${REDACTED} ${REDACTED}`);
    expect(r.redact('key: MIIBOgIBAAJBAKj34GkxFhD9', 'd')).toBe(`key: ${REDACTED}`);
  });

  it(`leaves values shorter than ${MIN_REDACTED_LENGTH} characters alone, and masks a longer value whole`, () => {
    const r = new Redactor();
    r.addGlobal(['12345', 'abcdefgh', 'abcdefgh-longer']);
    expect(r.redact('port 12345 abcdefgh-longer abcdefgh')).toBe(`port 12345 ${REDACTED} ${REDACTED}`);
  });

  it('picks up values added later, and stops masking a forgotten deployment', () => {
    const r = new Redactor();
    r.addDeployment('d', ['first-value']);
    expect(r.redact('first-value second-value', 'd')).toBe(`${REDACTED} second-value`);
    r.addDeployment('d', ['second-value']);
    expect(r.redact('first-value second-value', 'd')).toBe(`${REDACTED} ${REDACTED}`);
    r.addGlobal(['third-value']);
    expect(r.redact('third-value', 'd')).toBe(REDACTED);
    r.forget('d');
    expect(r.redact('first-value', 'd')).toBe('first-value');
    expect(r.redact('first-value')).toBe('first-value');
  });

  it('treats regular expression characters in values literally', () => {
    const r = new Redactor();
    r.addGlobal(['a.b*c+d?(e)[f]{g}|h^$']);
    expect(r.redact('x a.b*c+d?(e)[f]{g}|h^$ y aXbbbcd', 'd')).toBe(`x ${REDACTED} y aXbbbcd`);
  });

  it('is fast enough for every log line: 200 values, 20 000 lines of 200 characters', () => {
    const r = new Redactor();
    for (let i = 0; i < 100; i++) r.addGlobal([`global-secret-${i}-${'x'.repeat(20)}`]);
    for (let i = 0; i < 100; i++) r.addDeployment('d', [`deploy-secret-${i}-${'y'.repeat(20)}`]);
    const lines = Array.from({ length: 20_000 }, (_, i) => `${new Date(i).toISOString()} request ${i} handled in ${i % 97}ms ${'z'.repeat(150)}`);
    lines[777] += ' deploy-secret-42-yyyyyyyyyyyyyyyyyyyy';
    r.redact('warm up', 'd');
    const t0 = performance.now();
    let masked = 0;
    for (const l of lines) if (r.redact(l, 'd') !== l) masked++;
    const ms = performance.now() - t0;
    console.info(`redactor: 20 000 lines x 200 values in ${ms.toFixed(1)} ms (${((ms * 1000) / 20_000).toFixed(1)} µs a line)`);
    expect(masked).toBe(1);
    expect(ms).toBeLessThan(5_000);
  });
});
