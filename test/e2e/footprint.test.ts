/**
 * Berth's own weight (issue 11): a SQLite Berth with no url deployments never loads the PostgreSQL
 * driver or undici; they load with the first database or remote that needs them. (Time and RSS
 * are measured by `npm run bench`, phase memory/startup.)
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startSessionServer, type TestRemote } from '../../src/mcp/remote/testing/servers.js';
import { TestApi } from '../support/api.js';
import { ROOT, startBerth, type BerthProcess } from '../support/berth-process.js';

const PRELOAD = ['--import', pathToFileURL(join(ROOT, 'test/support/loaded-packages.mjs')).href];

let berth: BerthProcess | null = null;
let remote: TestRemote | null = null;
afterEach(async () => {
  await berth?.dispose();
  await remote?.close();
  berth = null;
  remote = null;
});

/** Stops Berth and returns the npm packages it had loaded. */
async function loadedPackages(b: BerthProcess): Promise<string[]> {
  await b.stop();
  const m = /berth-loaded-packages: (\[.*\])/.exec(b.output());
  if (!m) throw new Error(`no package list in Berth's output:\n${b.output()}`);
  return JSON.parse(m[1]!) as string[];
}

describe('footprint', () => {
  it('a SQLite Berth with no url deployment loads neither pg nor undici', async () => {
    berth = await startBerth({ nodeArgs: PRELOAD });
    const health = await fetch(`${berth.url}/healthz`);
    expect(health.status).toBe(200);
    const loaded = await loadedPackages(berth);
    // The SQLite driver is the database in use: seen here, so the list is not empty by mistake.
    expect(loaded).toContain('better-sqlite3');
    expect(loaded).not.toContain('pg');
    expect(loaded).not.toContain('undici');
  });

  it('the first url deployment loads undici', async () => {
    remote = await startSessionServer();
    berth = await startBerth({ nodeArgs: PRELOAD });
    const api = new TestApi(berth.url, berth.token);
    const d = await api.deploy({ name: 'remote', spec: { type: 'url', endpoint: remote.url } });
    await api.waitFor(d.id, 'running');
    expect(await loadedPackages(berth)).toContain('undici');
  });
});
