// `npx tsx bench/deploy.ts` (after `npm run build`): deploy-to-ready of a small Node.js MCP server from its source,
// split into phases, on the container path (detect, build context, image build with the dependency layer cold and
// warm, push, container start, first handshake) and on the process runtime (upload, install + start, first
// handshake through the gateway, cold and warm). Every figure is also printed as a ratio to the baseline measured
// in the same run: the same server started directly (`node server.mjs`) and asked tools/list over stdio.
// Targets of issue 12 with a warm cache: process runtime ≤ 5 s, container ≤ 15 s (printed, never asserted).
// Also the last phase of `npm run bench` (BENCH_DEPLOY=off skips it there).
// Then the cost of a call on the container runtime: through the gateway against the container's own bridge direct.
// Knobs (env): BENCH_DEPLOY_ROUNDS=3 (warm rounds, median)  BENCH_DEPLOY_PROCESS=off  BENCH_DEPLOY_CONTAINER=off
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { detectSource } from '../src/build/detect/index.js';
import { buildContext, buildSourceImage, pushImage, type ImageBuildOptions } from '../src/build/image/index.js';
import { packFolder } from '../src/cli/source-pack.js';
import { TestApi } from '../test/support/api.js';
import { ROOT, startBerth } from '../test/support/berth-process.js';
import { BASE_IMAGE, ENGINE_SOCKET, engineOrSkipQuiet, REGISTRY_BIN, removeImages, runImage, startRegistry } from '../test/support/images.js';
import { BENCH_ENV, disposeBerth, progress } from './phases.js';

const ROUNDS = Math.max(1, Number(process.env.BENCH_DEPLOY_ROUNDS ?? 3));
const FIXTURE = join(ROOT, 'test/fixtures/images/node-npm');
const RUN = randomBytes(4).toString('hex');
const work = mkdtempSync(join(tmpdir(), 'berth-bench-deploy-'));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const time = async <T>(fn: () => Promise<T> | T): Promise<[T, number]> => {
  const t0 = performance.now();
  const out = await fn();
  return [out, performance.now() - t0];
};

/** A copy of the fixture with its own package name: a dependency layer no earlier build has cached. */
function freshSource(name: string): string {
  const dir = join(work, name);
  cpSync(FIXTURE, dir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, name: `bench-${RUN}-${name}` }, null, 2));
  execFileSync('npm', ['install', '--package-lock-only', '--offline', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'ignore' });
  return dir;
}

/** Baseline: the server started directly with node (its dependency installed on the host), through tools/list over stdio. */
async function directStart(dir: string): Promise<number> {
  const [, ms] = await time(async () => {
    const c = new Client({ name: 'bench-deploy', version: '1.0.0' });
    await c.connect(new StdioClientTransport({ command: process.execPath, args: ['server.mjs'], cwd: dir, stderr: 'ignore' }));
    await c.listTools();
    await c.close();
  });
  return ms;
}

async function handshake(url: string, headers: Record<string, string>): Promise<number> {
  const [, ms] = await time(async () => {
    const c = new Client({ name: 'bench-deploy', version: '1.0.0' });
    const t = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
    await c.connect(t);
    const tools = await c.listTools();
    if (!tools.tools.some((x) => x.name === 'shout')) throw new Error('the server did not list its tools');
    await t.terminateSession().catch(() => {});
    await c.close();
  });
  return ms;
}

interface Row {
  phase: string;
  ms: number;
  note?: string;
}

async function containerPath(baselineMs: number): Promise<Row[] | string> {
  const docker = await engineOrSkipQuiet();
  if (typeof docker === 'string') return docker;
  const opts: ImageBuildOptions = { baseImage: BASE_IMAGE, bridgeFile: join(ROOT, 'dist/berth.mjs'), timeoutMs: 900_000, maxContextBytes: 1 << 28 };
  const labels = { 'berth.bench-run': RUN };
  const rows: Row[] = [];
  try {
    const dir = freshSource('container');
    const [report, detectMs] = await time(() => detectSource(dir));
    rows.push({ phase: 'detect', ms: detectMs });
    const [bytes, tarMs] = await time(async () => {
      const ctx = buildContext({ root: dir, prefix: 'app', extra: [{ name: 'berth/berth.mjs', path: opts.bridgeFile }], maxBytes: opts.maxContextBytes });
      let n = 0;
      for await (const c of ctx.stream) n += (c as Buffer).length;
      return n;
    });
    rows.push({ phase: 'build context (tar)', ms: tarMs, note: `${(bytes / 1024).toFixed(0)} KiB` });
    const build = (tag: string) => buildSourceImage(docker, opts, { root: dir, report, tag, labels, log: () => {}, progress: () => {} });
    progress('container: image build, dependency layer cold');
    const [cold, coldMs] = await time(() => build(`localhost/berth-bench/${RUN}:r1`));
    rows.push({ phase: 'image build, cold dependencies', ms: coldMs, note: `${cold.cached.length}/${cold.steps} steps cached (the base's)` });
    const warm: number[] = [];
    let cachedInstall = true;
    for (let r = 0; r < ROUNDS; r++) {
      appendFileSync(join(dir, 'server.mjs'), `\n// bench round ${r}\n`);
      progress(`container: image build after a source change ${r + 1}/${ROUNDS}`);
      const [w, ms] = await time(() => build(`localhost/berth-bench/${RUN}:r${r + 2}`));
      cachedInstall &&= w.cached.includes('RUN ["npm","ci"]');
      warm.push(ms);
    }
    rows.push({ phase: 'image build, warm dependencies', ms: median(warm), note: `install step from the cache: ${cachedInstall ? 'yes' : 'NO'}` });
    if (existsSync(REGISTRY_BIN)) {
      const registry = await startRegistry();
      try {
        const tag = `${registry.host}/berth/bench-${RUN}:r1`;
        await docker.getImage(`localhost/berth-bench/${RUN}:r1`).tag({ repo: `${registry.host}/berth/bench-${RUN}`, tag: 'r1' });
        const [, pushMs] = await time(() => pushImage(docker, tag, { insecure: true, timeoutMs: 600_000, log: () => {} }));
        rows.push({ phase: 'push (first, every layer)', ms: pushMs });
        await docker.getImage(`localhost/berth-bench/${RUN}:r2`).tag({ repo: `${registry.host}/berth/bench-${RUN}`, tag: 'r2' });
        const [, push2Ms] = await time(() => pushImage(docker, `${registry.host}/berth/bench-${RUN}:r2`, { insecure: true, timeoutMs: 600_000, log: () => {} }));
        rows.push({ phase: 'push (next revision, changed layers)', ms: push2Ms });
      } finally {
        await registry.stop();
      }
    } else rows.push({ phase: 'push', ms: Number.NaN, note: `not measured: no ${REGISTRY_BIN}` });
    const starts: number[] = [];
    const hands: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const [run, startMs] = await time(() => runImage(docker, `localhost/berth-bench/${RUN}:r2`, labels));
      try {
        starts.push(startMs);
        hands.push(await handshake(run.url, run.headers));
      } finally {
        await run.stop();
      }
    }
    rows.push({ phase: 'container start (to /health)', ms: median(starts) });
    rows.push({ phase: 'first handshake + tools/list', ms: median(hands) });
    const pushWarm = rows.find((r) => r.phase.startsWith('push (next'))?.ms ?? 0;
    rows.push({ phase: 'TOTAL warm (detect … handshake)', ms: detectMs + tarMs + median(warm) + pushWarm + median(starts) + median(hands), note: 'target ≤ 15 s' });
    return rows.map((r) => ({ ...r, note: [r.note, Number.isFinite(r.ms) ? `${(r.ms / baselineMs).toFixed(1)}× the direct start` : ''].filter(Boolean).join('; ') }));
  } finally {
    await removeImages(docker, 'berth.bench-run', RUN);
  }
}

async function processPath(baselineMs: number): Promise<Row[] | string> {
  const berth = await startBerth({ env: BENCH_ENV });
  const api = new TestApi(berth.url, berth.token);
  try {
    const dir = freshSource('process');
    const zip = join(work, 'process.zip');
    await packFolder(dir, zip);
    const rounds: { upload: number; ready: number; hand: number }[] = [];
    for (let r = 0; r <= ROUNDS; r++) {
      const [digest, upload] = await time(async () => {
        const res = await fetch(`${berth.url}/api/sources`, { method: 'POST', headers: { ...api.authHeaders(), 'content-type': 'application/zip', 'content-length': String(statSync(zip).size) }, body: createReadStream(zip) as never, duplex: 'half' } as RequestInit);
        const body = (await res.json()) as { digest?: string; error?: { message?: string } };
        if (res.status !== 201 || !body.digest) throw new Error(`upload: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
        return body.digest;
      });
      const [id, ready] = await time(async () => {
        const { status, body } = await api.call<{ id: string }>('POST', '/api/deployments', { name: `bench-process-${r}`, access: 'private', spec: { type: 'source', source: { kind: 'upload', digest }, runtime: 'process' } });
        if (status !== 201) throw new Error(`create: ${status} ${JSON.stringify(body).slice(0, 300)}`);
        await api.waitFor(body.id, 'running', 300_000);
        return body.id;
      });
      const hand = await handshake(`${berth.url}/s/${id}/mcp`, api.authHeaders());
      rounds.push({ upload, ready, hand });
      progress(`process: round ${r} (${r === 0 ? 'cold' : 'warm'}): upload ${upload.toFixed(0)} ms, install + start ${ready.toFixed(0)} ms, handshake ${hand.toFixed(0)} ms`);
    }
    const [cold, ...warm] = rounds;
    const rows: Row[] = [
      { phase: 'upload (ZIP to the source store)', ms: cold!.upload },
      { phase: 'install + start, cold (first deploy)', ms: cold!.ready },
      { phase: 'install + start, warm', ms: median(warm.map((w) => w.ready)) },
      { phase: 'first handshake + tools/list (gateway)', ms: median(rounds.map((w) => w.hand)) },
      { phase: 'TOTAL warm (upload … handshake)', ms: median(warm.map((w) => w.upload + w.ready + w.hand)), note: 'target ≤ 5 s' },
    ];
    return rows.map((r) => ({ ...r, note: [r.note, `${(r.ms / baselineMs).toFixed(1)}× the direct start`].filter(Boolean).join('; ') }));
  } catch (err) {
    return `failed: ${(err as Error).message}`;
  } finally {
    await disposeBerth(berth);
  }
}

/** Sequential tools/call latencies (ms) over one session. */
async function callLatencies(url: string, headers: Record<string, string>, n: number): Promise<number[]> {
  const c = new Client({ name: 'bench-calls', version: '1.0.0' });
  const t = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await c.connect(t);
  try {
    for (let i = 0; i < 30; i++) await c.callTool({ name: 'shout', arguments: { text: 'warm' } });
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await time(() => c.callTool({ name: 'shout', arguments: { text: `call ${i}` } })))[1]);
    return out;
  } finally {
    await t.terminateSession().catch(() => {});
    await c.close();
  }
}

/**
 * A call's cost on the container runtime: through Berth's gateway (Berth's bridge, holding the session, over a channel
 * to the bridge in the container) against the same container's bridge reached directly (its port, its token), in one
 * run, rounds interleaved. The difference is what keeping sessions across updates costs per call.
 */
async function containerCalls(): Promise<Row[] | string> {
  const docker = await engineOrSkipQuiet();
  if (typeof docker === 'string') return docker;
  const network = `berth-bench-${RUN}`;
  const berth = await startBerth({ env: { ...BENCH_ENV, BERTH_CONTAINER_SOCKET: ENGINE_SOCKET, BERTH_CONTAINER_NETWORK: network, BERTH_BASE_IMAGE: BASE_IMAGE, BERTH_BUILD_TIMEOUT_S: '900', BERTH_START_TIMEOUT_S: '300' } });
  const api = new TestApi(berth.url, berth.token);
  let id: string | undefined;
  try {
    const zip = join(work, 'calls.zip');
    await packFolder(freshSource('calls'), zip);
    const up = await fetch(`${berth.url}/api/sources`, { method: 'POST', headers: { ...api.authHeaders(), 'content-type': 'application/zip' }, body: readFileSync(zip) });
    const { digest } = (await up.json()) as { digest: string };
    const made = await api.call<{ id: string }>('POST', '/api/deployments', { name: 'bench-calls', access: 'private', spec: { type: 'source', source: { kind: 'upload', digest }, runtime: 'container' } });
    if (made.status !== 201) throw new Error(`create: ${made.status} ${JSON.stringify(made.body).slice(0, 300)}`);
    id = made.body.id;
    progress('container calls: building and starting the image');
    await api.waitFor(id, 'running', 900_000);
    const [c] = await docker.listContainers({ filters: { label: [`berth.deployment=${id}`] } });
    const info = (await docker.getContainer(c!.Id).inspect()) as { Config: { Env: string[] }; NetworkSettings: { Ports: Record<string, { HostPort: string }[] | null> } };
    const port = Object.values(info.NetworkSettings.Ports).flat()[0]?.HostPort;
    const token = info.Config.Env.find((e) => e.startsWith('BERTH_BRIDGE_TOKEN='))?.slice('BERTH_BRIDGE_TOKEN='.length);
    if (!port || !token) throw new Error('the container has no published port or bridge token');
    const via: number[] = [];
    const direct: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      progress(`container calls: round ${r + 1}/${ROUNDS}`);
      direct.push(...(await callLatencies(`http://127.0.0.1:${port}/mcp`, { authorization: `Bearer ${token}` }, 300)));
      via.push(...(await callLatencies(`${berth.url}/s/${id}/mcp`, api.authHeaders(), 300)));
    }
    const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!;
    return [
      { phase: "tools/call, the container's bridge direct", ms: median(direct), note: `p95 ${p95(direct).toFixed(2)} ms; baseline` },
      { phase: "tools/call through Berth's gateway", ms: median(via), note: `p95 ${p95(via).toFixed(2)} ms; ${(median(via) / median(direct)).toFixed(2)}× the direct call, +${(median(via) - median(direct)).toFixed(2)} ms` },
    ];
  } catch (err) {
    return `failed: ${(err as Error).message}`;
  } finally {
    if (id) await api.call('DELETE', `/api/deployments/${id}`).catch(() => {});
    await disposeBerth(berth);
    for (const n of await docker.listNetworks().catch(() => [])) if (n.Name.startsWith(network)) await docker.getNetwork(n.Id).remove().catch(() => {});
  }
}

function printCalls(rows: Row[] | string): void {
  console.log('\n## container calls: one session, sequential tools/call (median of 300 per round)');
  if (typeof rows === 'string') return void console.log(`not measured: ${rows}`);
  for (const r of rows) console.log(`${r.phase.padEnd(45)} ${r.ms.toFixed(2).padStart(7)} ms  ${r.note ?? ''}`);
}

function print(title: string, rows: Row[] | string): void {
  console.log(`\n## ${title}`);
  if (typeof rows === 'string') {
    console.log(`not measured: ${rows}`);
    return;
  }
  for (const r of rows) console.log(`${r.phase.padEnd(40)} ${Number.isFinite(r.ms) ? `${(r.ms / 1000).toFixed(2).padStart(7)} s` : '      –  '}  ${r.note ?? ''}`);
}

export async function benchDeploy(): Promise<void> {
  try {
    await measure();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function measure(): Promise<void> {
  if (!existsSync(join(ROOT, 'dist/berth.mjs'))) throw new Error('run npm run build first (dist/berth.mjs)');
  const base = freshSource('baseline');
  execFileSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: base, stdio: 'ignore' });
  const direct: number[] = [];
  for (let r = 0; r < 5; r++) direct.push(await directStart(base));
  const baselineMs = median(direct);
  console.log(`# Deploy-to-ready of a small Node.js MCP server (test/fixtures/images/node-npm), node ${process.version}`);
  console.log(`baseline: the server started directly (node server.mjs) through tools/list over stdio, median of 5: ${baselineMs.toFixed(0)} ms`);
  console.log(`warm figures: median of ${ROUNDS} rounds`);
  if (process.env.BENCH_DEPLOY_CONTAINER !== 'off') print('container (image build through the engine API, run with podman)', await containerPath(baselineMs));
  if (process.env.BENCH_DEPLOY_PROCESS !== 'off') print('process runtime (through a Berth: upload, workspace install, start)', await processPath(baselineMs));
  if (process.env.BENCH_DEPLOY_CONTAINER !== 'off') printCalls(await containerCalls());
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  await benchDeploy().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
