import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from './main.js';
import type { StandInApi } from './testing/stand-in-api.js';
import { startStandInApi } from './testing/stand-in-api.js';

/** main() with a piped stdin (never a TTY here) and a HOME of its own. */
async function run(args: string[], env: Record<string, string>, stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'berth', ...args], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stdin: Readable.from([Buffer.from(stdin)]),
    env,
  });
  return { code, stdout, stderr };
}

describe('berth login and the config file', () => {
  let api: StandInApi;
  let home: string;
  const TOKEN = `brt_${'a'.repeat(43)}`;
  beforeEach(async () => {
    api = await startStandInApi({ token: TOKEN });
    home = mkdtempSync(join(tmpdir(), 'berth-cli-home-'));
  });
  afterEach(async () => {
    await api.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('reads the token from stdin (never argv), checks it, saves it 0600, and later commands use it', async () => {
    const env = { HOME: home };
    const r = await run(['--url', api.url, 'login'], env, `${TOKEN}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Logged in');
    const file = join(home, '.config/berth/config.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toStrictEqual({ current: api.url, servers: { [api.url]: { token: TOKEN } } });
    // No URL, no token given: both come from the file.
    const ls = await run(['ls'], env);
    expect(ls.code, ls.stderr).toBe(0);
    expect(api.requests.at(-1)?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    // BERTH_TOKEN still wins over the file.
    await run(['ls'], { ...env, BERTH_TOKEN: 'brt_other' });
    expect(api.requests.at(-1)?.headers.authorization).toBe('Bearer brt_other');
    const out = await run(['logout'], env);
    expect(out.stdout).toContain('Forgot');
    expect((await run(['ls'], { ...env, BERTH_URL: api.url })).code).toBe(1);
  });

  it('does not save a token the server refuses, nor an empty one', async () => {
    const env = { HOME: home };
    const bad = await run(['--url', api.url, 'login'], env, 'brt_nope\n');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('UNAUTHORIZED');
    const empty = await run(['--url', api.url, 'login'], env, '');
    expect(empty.code).toBe(2);
    expect(() => statSync(join(home, '.config/berth/config.json'))).toThrow();
  });

  it('refuses a config file others can read, as ssh refuses a private key', async () => {
    const file = join(home, 'berth.json');
    writeFileSync(file, JSON.stringify({ current: api.url, servers: { [api.url]: { token: TOKEN } } }));
    chmodSync(file, 0o644);
    const r = await run(['ls'], { BERTH_CONFIG: file });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('CONFIG_INSECURE');
    expect(r.stderr).toContain(`chmod 600 ${file}`);
    chmodSync(file, 0o600);
    expect((await run(['ls'], { BERTH_CONFIG: file })).code).toBe(0);
  });
});
