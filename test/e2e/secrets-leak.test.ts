/**
 * The leak scan: deploy servers with secrets, use every feature that shows a deployment, then look
 * for each secret value (as is, JSON-escaped, base64) in every file of the data dir (the SQLite WAL
 * included), Berth's own output, every API answer and every CLI output. None may hold one; and the
 * scan must find the values where they belong (the servers' own environment, a planted file).
 */
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentStatusView } from '../../src/api/contract.js';
import type { DeploymentView } from '../../src/core/index.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { berthCli, callTool, scanBytes, scanTree, secretServerSpec, type CliRun, type Hit } from '../support/secrets.js';
import { startHttpUpstream } from '../support/servers.js';

const tag = randomBytes(6).toString('hex');
/** Characters that JSON escapes, so the escaped form matters. */
const API_VALUE = `sk-live"api\\key-${tag}`;
const SHARED_VALUE = `shared-global-${tag}-\u00e9`;
const URL_TOKEN = `url-bearer-${tag}`;
const GONE_VALUE = `gone-soon-${tag}`;
const VALUES = [API_VALUE, SHARED_VALUE, URL_TOKEN, GONE_VALUE];

let berth: BerthProcess;
let upstream: ChildProcess;
let upstreamUrl: string;
/** Everything the API and the CLI answered, for the scan. */
const transcript: { where: string; text: string }[] = [];
/** What the servers said they received: where the values must be found. */
const received: string[] = [];
const ids: { leaky?: string; remote?: string; gone?: string } = {};

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${berth.url}${path}`, {
    method,
    headers: { ...berth.authHeaders(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  transcript.push({ where: `${method} ${path} (${res.status})`, text });
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function cli(args: string[], stdin?: string): Promise<CliRun> {
  const r = await berthCli(berth, args, stdin);
  transcript.push({ where: `berth ${args.join(' ')} (exit ${r.code})`, text: `${r.stdout}\n${r.stderr}` });
  return r;
}

async function waitFor(id: string, want: DeploymentStatusView['status']): Promise<DeploymentStatusView> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const { body } = await api<DeploymentStatusView>('GET', `/api/deployments/${id}/status`);
    if (body.status === want) return body;
    if (Date.now() > deadline) throw new Error(`${id} did not reach ${want}: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Reads a follow stream for a moment (the tail comes first), keeping what it got. */
async function followLogs(id: string): Promise<string> {
  const ac = new AbortController();
  const res = await fetch(`${berth.url}/api/deployments/${id}/logs?follow=1`, { headers: berth.authHeaders(), signal: ac.signal });
  let text = '';
  const reader = res.body!.getReader();
  const stop = setTimeout(() => ac.abort(), 1_500);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
  } catch {
    /* aborted: that is the end of the sample */
  } finally {
    clearTimeout(stop);
  }
  transcript.push({ where: `GET /api/deployments/${id}/logs?follow=1`, text });
  return text;
}

beforeAll(async () => {
  ({ proc: upstream, url: upstreamUrl } = await startHttpUpstream({ EXPECTED_AUTH: `Bearer ${URL_TOKEN}` }));
  berth = await startBerth();
});

afterAll(async () => {
  upstream?.kill();
  await berth?.dispose();
});

describe('secrets never in plain sight', () => {
  it('deploys a process server with a secret (berth deploy --secret, value on stdin) and a global one; the server receives both', async () => {
    expect((await api('PUT', '/api/secrets/global/SHARED', { value: SHARED_VALUE })).status).toBe(200);
    const r = await cli(['deploy', '--name', 'leaky', '--cwd', join(import.meta.dirname, '../..'), '--secret', 'API_KEY', '-e', 'SHARED=secret_ref:global:SHARED', '-e', 'PRINT_VAR=API_KEY', '--', ...secretServerCommand()], `${API_VALUE}\n`);
    expect(r.code, r.stderr).toBe(0);
    ids.leaky = /\/s\/([a-z0-9-]+)\/mcp/.exec(r.stdout)![1]!;
    const endpoint = `${berth.url}/s/${ids.leaky}/mcp`;
    const gotKey = await callTool(endpoint, berth.authHeaders(), 'getenv', { name: 'API_KEY' });
    const gotShared = await callTool(endpoint, berth.authHeaders(), 'getenv', { name: 'SHARED' });
    received.push(gotKey, gotShared);
    expect(gotKey).toBe(API_VALUE);
    expect(gotShared).toBe(SHARED_VALUE);
  });

  it('deploys a url server with a plain Authorization header; Berth stores it as a secret and the remote receives it', async () => {
    const { status, body } = await api<DeploymentView>('POST', '/api/deployments', { name: 'remote-auth', spec: { type: 'url', endpoint: upstreamUrl, headers: { Authorization: `Bearer ${URL_TOKEN}` } } });
    expect(status).toBe(201);
    ids.remote = body.id;
    expect(body.spec).toMatchObject({ headers: { Authorization: `secret_ref:${body.id}:HEADER_AUTHORIZATION` } });
    await waitFor(body.id, 'running');
    const seen = await callTool(body.endpoint, berth.authHeaders(), 'seen-authorization');
    received.push(seen);
    expect(JSON.parse(seen)).toStrictEqual([`Bearer ${URL_TOKEN}`]);
  });

  it('shows deployments, status and logs through the API, the log stream and the CLI: the printed secret is masked', async () => {
    for (const id of [ids.leaky!, ids.remote!]) {
      await api('GET', `/api/deployments/${id}`);
      await api('GET', `/api/deployments/${id}/status`);
      await api('GET', `/api/deployments/${id}/logs?tail=1000`);
      await api('GET', `/api/deployments/${id}/secrets`);
      await followLogs(id);
      for (const args of [['status', id], ['status', id, '--json'], ['logs', id], ['logs', id, '--json'], ['secrets', 'ls', id], ['secrets', 'ls', id, '--json']]) {
        expect((await cli(args)).code).toBe(0);
      }
    }
    await api('GET', '/api/deployments');
    await api('GET', '/api/secrets/global');
    for (const args of [['ls'], ['ls', '--json'], ['secrets', 'ls', 'global']]) expect((await cli(args)).code).toBe(0);
    const logs = await api<{ items: { line: string }[] }>('GET', `/api/deployments/${ids.leaky}/logs?tail=1000`);
    const lines = logs.body.items.map((e) => e.line);
    // The server did print its key, twice: both lines reached the log, masked.
    expect(lines).toContain('starting with API_KEY=[redacted]');
    expect(lines).toContain('{"config":{"API_KEY":"[redacted]"}}');
  });

  it('a secret deleted after the deploy fails the next start, saying which and how to fix it', async () => {
    expect((await cli(['secrets', 'set', 'global', 'GONE'], GONE_VALUE)).code).toBe(0);
    const { body } = await api<DeploymentView>('POST', '/api/deployments', secretServerSpec('needs-gone', { GONE: 'secret_ref:global:GONE', PRINT_VAR: 'GONE' }));
    ids.gone = body.id;
    await waitFor(body.id, 'running');
    expect(await callTool(body.endpoint, berth.authHeaders(), 'getenv', { name: 'GONE' })).toBe(GONE_VALUE);
    expect((await cli(['secrets', 'rm', 'global', 'GONE'])).code).toBe(0);
    expect((await cli(['stop', body.id])).code).toBe(0);
    expect((await cli(['start', body.id])).code).toBe(0);
    const failed = await waitFor(body.id, 'failed');
    expect(failed.status_message).toContain('spec.env.GONE needs secret_ref:global:GONE, which does not exist');
    expect(failed.status_message).toContain('berth secrets set global GONE');
    expect((await cli(['status', body.id])).stdout).toContain('secret_ref:global:GONE');
    await api('GET', `/api/deployments/${body.id}/logs`);
  });

  it('rotates the master key (berth secrets rotate-key); after a stop and start the server still receives its secret', async () => {
    const r = await cli(['secrets', 'rotate-key']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Rotated the master key: \d+ values re-encrypted under key [0-9a-f]{16}/);
    expect((await cli(['stop', ids.leaky!])).code).toBe(0);
    expect((await cli(['start', ids.leaky!])).code).toBe(0);
    await waitFor(ids.leaky!, 'running');
    const again = await callTool(`${berth.url}/s/${ids.leaky}/mcp`, berth.authHeaders(), 'getenv', { name: 'API_KEY' });
    received.push(again);
    expect(again).toBe(API_VALUE);
  });

  it('removes deployments (their secrets go with them)', async () => {
    for (const id of [ids.remote!, ids.gone!]) expect((await cli(['rm', id])).code).toBe(0);
    expect((await api('GET', `/api/deployments/${ids.remote}/secrets`)).status).toBe(404);
    await api('GET', '/api/deployments?all=1');
  });

  it('finds no value anywhere: data dir (WAL included), Berth output, API answers, CLI output; but finds them where they belong', async () => {
    const running = scanTree(berth.dataDir, VALUES);
    expect(running.files).toBeGreaterThan(5);
    const texts: Hit[] = transcript.flatMap((t) => scanBytes(t.where, t.text, VALUES));
    const hits = [...running.hits, ...texts, ...scanBytes('berth stderr', berth.output(), VALUES)];
    console.log(`leak scan: ${VALUES.length} secret values × (${running.files} files of the data dir, ${transcript.length} API answers and CLI outputs, Berth's stderr): ${hits.length} hits`);
    expect(hits).toStrictEqual([]);
    expect(transcript.length).toBeGreaterThan(40);

    // The scan can find: each value is in what the servers received, and a planted file is found in every form.
    expect(new Set(received.flatMap((t) => scanBytes('tool', t, VALUES).map((h) => h.value)))).toStrictEqual(new Set([API_VALUE, SHARED_VALUE, URL_TOKEN]));
    const planted = join(berth.dataDir, 'logs', 'planted.bin');
    writeFileSync(planted, Buffer.concat([randomBytes(64), Buffer.from(`x${Buffer.from(GONE_VALUE).toString('base64')}x`), randomBytes(64)]));
    expect(scanTree(berth.dataDir, VALUES).hits).toStrictEqual([{ where: planted, value: GONE_VALUE, form: 'base64' }]);
    rmSync(planted);

    // After a clean stop the WAL is checkpointed into berth.db: still nothing.
    await berth.stop();
    expect(scanTree(berth.dataDir, VALUES).hits).toStrictEqual([]);
  });
});

function secretServerCommand(): string[] {
  const spec = secretServerSpec('x', {}).spec;
  if (spec.type !== 'process') throw new Error('expected a process spec');
  return [spec.command, ...(spec.args ?? [])];
}
