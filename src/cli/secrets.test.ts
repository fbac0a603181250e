import { PassThrough } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import type { InStream } from './context.js';
import type { StandInApi } from './testing/stand-in-api.js';
import { useStandInApi } from './testing/stand-in-api.js';
import { runCli, type CliRun } from './testing/run-cli.js';

const VALUE = 'sk-live-Zq8#value"with\\odd chars';

/** A stand-in terminal: raw mode is recorded, keystrokes are written by the test once the prompt is out. */
function fakeTty(): InStream & PassThrough & { rawModes: boolean[] } {
  const stream = new PassThrough() as unknown as InStream & PassThrough & { rawModes: boolean[] };
  stream.isTTY = true;
  stream.rawModes = [];
  stream.setRawMode = (mode: boolean) => stream.rawModes.push(mode);
  return stream;
}

function expectNoValue(r: CliRun, value = VALUE): void {
  expect(r.stdout).not.toContain(value);
  expect(r.stderr).not.toContain(value);
}

describe('berth secrets and deploy --secret, against a stand-in API', () => {
  const ctx = useStandInApi();
  let api: StandInApi;
  let env: Record<string, string>;
  beforeEach(() => ({ api, env } = ctx));

  const secretRequests = () => api.requests.filter((r) => r.path.includes('secrets'));

  it('set reads a piped value (less one final newline), sends it once, and prints nothing', async () => {
    const r = await runCli(['secrets', 'set', 'global', 'GH_TOKEN'], { env, stdin: `${VALUE}\n` });
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(api.secrets.get('global')?.get('GH_TOKEN')).toBe(VALUE);
    expect(secretRequests()).toMatchObject([{ method: 'PUT', path: '/api/secrets/global/GH_TOKEN', body: { value: VALUE } }]);
    const pem = '-----BEGIN KEY-----\nabc\n-----END KEY-----';
    api.addDeployment({ id: 'everything-aaaaaaaaaaaa' });
    const json = await runCli(['secrets', 'set', 'everything-aaaaaaaaaaaa', 'TLS_KEY', '--json'], { env, stdin: `${pem}\n` });
    expect(JSON.parse(json.stdout)).toStrictEqual({ name: 'TLS_KEY', updated_at: '2026-01-01T00:00:00.000Z' });
    expect(api.secrets.get('everything-aaaaaaaaaaaa')?.get('TLS_KEY')).toBe(pem);
  });

  it('set never takes the value from the command line, and does not repeat it', async () => {
    const r = await runCli(['secrets', 'set', 'global', 'GH_TOKEN', VALUE], { env, stdin: 'ignored' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('never taken from the command line');
    expectNoValue(r);
    expect(secretRequests()).toStrictEqual([]);
  });

  it('set refuses an empty value or a missing stdin, sending nothing', async () => {
    for (const stdin of ['', '\n', undefined]) {
      const r = await runCli(['secrets', 'set', 'global', 'GH_TOKEN'], { env, ...(stdin === undefined ? {} : { stdin }) });
      expect(r.code, JSON.stringify(stdin)).toBe(2);
      expect(r.stderr).toMatch(/empty|no stdin/);
    }
    expect(secretRequests()).toStrictEqual([]);
  });

  it('on a terminal, prompts without echoing, in raw mode, with backspace', async () => {
    const tty = fakeTty();
    const running = runCli(['secrets', 'set', 'global', 'GH_TOKEN'], { env, stdin: tty });
    await new Promise((r) => setTimeout(r, 50));
    tty.write('sk-livX\u007fe-typed');
    tty.write(Buffer.from('-ü\r'));
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    expect(api.secrets.get('global')?.get('GH_TOKEN')).toBe('sk-live-typed-ü');
    expect(r.stderr).toBe('Value for GH_TOKEN (not shown): \n');
    expect(r.stdout).toBe('');
    expect(tty.rawModes).toStrictEqual([true, false]);
  });

  it('Ctrl-C at the prompt cancels with exit 130 and sends nothing', async () => {
    const tty = fakeTty();
    const running = runCli(['secrets', 'set', 'global', 'GH_TOKEN'], { env, stdin: tty });
    await new Promise((r) => setTimeout(r, 50));
    tty.write('half\u0003');
    const r = await running;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('cancelled');
    expect(secretRequests()).toStrictEqual([]);
    expect(tty.rawModes).toStrictEqual([true, false]);
  });

  it('ls prints names and update times (or how to add one), --json the API answer; the Berth URL may come before "secrets"', async () => {
    api.addDeployment({ id: 'everything-aaaaaaaaaaaa' });
    const empty = await runCli(['secrets', 'ls', 'everything-aaaaaaaaaaaa'], { env });
    expect(empty.stdout).toBe('No secrets in everything-aaaaaaaaaaaa. Set one with: berth secrets set everything-aaaaaaaaaaaa KEY\n');
    api.secrets.set('everything-aaaaaaaaaaaa', new Map([['B_KEY', VALUE], ['A_KEY', VALUE]]));
    const r = await runCli(['--url', api.url, 'secrets', 'ls', 'everything-aaaaaaaaaaaa'], { env: {} });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/))).toStrictEqual([
      ['NAME', 'UPDATED'],
      ['A_KEY', '2026-01-01T00:00:00.000Z'],
      ['B_KEY', '2026-01-01T00:00:00.000Z'],
    ]);
    expectNoValue(r);
    const json = await runCli(['secrets', 'ls', 'everything-aaaaaaaaaaaa', '--json'], { env });
    expect(JSON.parse(json.stdout)).toStrictEqual({ items: [{ name: 'A_KEY', updated_at: '2026-01-01T00:00:00.000Z' }, { name: 'B_KEY', updated_at: '2026-01-01T00:00:00.000Z' }] });
    expect(secretRequests().every((q) => q.path === '/api/deployments/everything-aaaaaaaaaaaa/secrets')).toBe(true);
  });

  it('rm deletes silently, and reports a missing secret with its code', async () => {
    api.secrets.set('global', new Map([['GH_TOKEN', VALUE]]));
    expect(await runCli(['secrets', 'rm', 'global', 'GH_TOKEN'], { env })).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(api.secrets.get('global')?.has('GH_TOKEN')).toBe(false);
    const again = await runCli(['secrets', 'rm', 'global', 'GH_TOKEN'], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('berth: No secret GH_TOKEN in global (SECRET_NOT_FOUND)\n');
  });

  it('rotate-key says how many values were re-encrypted', async () => {
    api.secrets.set('global', new Map([['A', VALUE], ['B', VALUE]]));
    const r = await runCli(['secrets', 'rotate-key'], { env });
    expect(r).toMatchObject({ code: 0, stdout: 'Rotated the master key: 2 values re-encrypted under key key1\n' });
    expect(api.rotations).toBe(1);
  });

  describe('berth deploy --secret', () => {
    it('reads one line per secret from a pipe and sends them in "secrets", never in the spec', async () => {
      const r = await runCli(['deploy', '--no-wait', '--secret', 'API_KEY', '--secret', 'DB_PASSWORD', '-e', 'PLAIN=1', '--', 'npx', 'some-server'], { env, stdin: `${VALUE}\nsecond-value\n` });
      expect(r.code, r.stderr).toBe(0);
      expectNoValue(r);
      const body = api.requests.find((q) => q.method === 'POST')?.body as { secrets?: Record<string, string>; spec: { env: Record<string, string> } };
      expect(body.secrets).toStrictEqual({ API_KEY: VALUE, DB_PASSWORD: 'second-value' });
      expect(body.spec.env).toStrictEqual({ PLAIN: '1' });
    });

    it('with --url, a secret is a header (which Berth stores as a secret)', async () => {
      const r = await runCli(['deploy', '--no-wait', '--url', 'https://mcp.example.com/mcp', '--secret', 'Authorization'], { env, stdin: `Bearer ${VALUE}` });
      expect(r.code, r.stderr).toBe(0);
      const body = api.requests.find((q) => q.method === 'POST')?.body as { secrets?: unknown; spec: { headers: Record<string, string> } };
      expect(body.spec.headers).toStrictEqual({ Authorization: `Bearer ${VALUE}` });
      expect(body.secrets).toBeUndefined();
    });

    it('refuses NAME=VALUE without repeating it, a name given twice, a wrong line count; and sends nothing', async () => {
      const cases: [string[], string, RegExp][] = [
        [['--secret', `API_KEY=${VALUE}`], VALUE, /name only/],
        [['--secret', 'API_KEY', '-e', 'API_KEY=x'], VALUE, /both as --secret and as -e/],
        [['--secret', 'A', '--secret', 'A'], VALUE, /twice/],
        [['--secret', 'A', '--secret', 'B'], 'only-one-line', /expected 2 lines on stdin/],
        [['--secret', 'not a name'], VALUE, /environment variable name/],
      ];
      for (const [flags, stdin, message] of cases) {
        const r = await runCli(['deploy', '--no-wait', ...flags, '--', 'npx', 'some-server'], { env, stdin });
        expect(r.code, flags.join(' ')).toBe(2);
        expect(r.stderr).toMatch(message);
        expectNoValue(r);
      }
      expect(api.requests.filter((q) => q.method === 'POST')).toStrictEqual([]);
    });
  });
});
