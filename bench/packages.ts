// `npx tsx bench/packages.ts` (after `npm run build`): what a package deployment costs, `npx -y PKG` against
// the package cache, in one run on one Berth. Per deployment: the RSS and PSS of its whole process group
// (sandbox, npx if any, the server) once it is running and settled, and the time from POST to running for
// a first and a second deployment of the same package. Needs the npm registry.
// Knobs (env): BENCH_PACKAGE=@modelcontextprotocol/server-memory  BENCH_SETTLE_MS=3000
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CreateDeploymentInput, DeploymentView, PackageSpec } from '../src/core/index.js';
import { TestApi } from '../test/support/api.js';
import { startBerth } from '../test/support/berth-process.js';

const PACKAGE = process.env.BENCH_PACKAGE ?? '@modelcontextprotocol/server-memory';
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 3000);

function field(pid: number, name: string, file = 'status'): number {
  try {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Every process in the group that Berth's pid file names for the deployment (the server and whatever runs it). */
function groupOf(dataDir: string, id: string): { pids: number[]; commands: string[] } {
  const file = readdirSync(join(dataDir, 'run')).find((f) => f.startsWith(`${id}.`) && f.endsWith('.pid'));
  if (!file) throw new Error(`no pid file for ${id}`);
  const leader = (JSON.parse(readFileSync(join(dataDir, 'run', file), 'utf8')) as { pid: number }).pid;
  const pids: number[] = [];
  const commands: string[] = [];
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const pgid = Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);
      if (pgid !== leader) continue;
      pids.push(Number(p));
      commands.push(readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').trim().slice(0, 120));
    } catch {
      /* gone */
    }
  }
  return { pids, commands };
}

async function deploy(api: TestApi, input: CreateDeploymentInput): Promise<{ view: DeploymentView; ms: number }> {
  const t0 = performance.now();
  const view = await api.deploy(input);
  await api.waitFor(view.id, 'running', 240_000);
  return { view, ms: performance.now() - t0 };
}

async function main(): Promise<void> {
  const berth = await startBerth({ env: { BERTH_SANDBOX: 'bubblewrap' } });
  const api = new TestApi(berth.url, berth.token);
  const rows: { what: string; ms: number; rssMb: number; pssMb: number; processes: string[] }[] = [];
  try {
    const measure = async (what: string, input: CreateDeploymentInput): Promise<DeploymentView> => {
      const { view, ms } = await deploy(api, input);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const g = groupOf(berth.dataDir, view.id);
      const rss = g.pids.reduce((a, p) => a + field(p, 'VmRSS'), 0);
      const pss = g.pids.reduce((a, p) => a + field(p, 'Pss', 'smaps_rollup'), 0);
      rows.push({ what, ms, rssMb: rss / 1024, pssMb: pss / 1024, processes: g.commands });
      process.stderr.write(`${what}: ${ms.toFixed(0)} ms, RSS ${(rss / 1024).toFixed(1)} MB\n`);
      return view;
    };
    const env = { MEMORY_FILE_PATH: '/tmp/memory.jsonl' };
    const first = await measure('package, first deployment (installs)', { name: 'pkg-1', spec: { type: 'package', registry: 'npm', name: PACKAGE, env } });
    const version = (first.spec as PackageSpec).version!;
    await measure('package, second deployment (cache hit)', { name: 'pkg-2', spec: { type: 'package', registry: 'npm', name: PACKAGE, version, env } });
    await measure('npx -y, first deployment', { name: 'npx-1', spec: { type: 'process', command: 'npx', args: ['-y', `${PACKAGE}@${version}`], env } });
    await measure('npx -y, second deployment', { name: 'npx-2', spec: { type: 'process', command: 'npx', args: ['-y', `${PACKAGE}@${version}`], env } });
    const out = [`# ${PACKAGE}@${version}: npx -y against the package cache (sandbox bubblewrap, settled ${SETTLE_MS} ms)`, '', '| deployment | POST → running | RSS of its processes | PSS | processes |', '|---|---:|---:|---:|---|'];
    for (const r of rows) out.push(`| ${r.what} | ${(r.ms / 1000).toFixed(2)} s | ${r.rssMb.toFixed(1)} MB | ${r.pssMb.toFixed(1)} MB | ${r.processes.length}: ${r.processes.map((c) => c.split(' ').slice(0, 3).join(' ')).join('; ')} |`);
    const pkg = rows[1]!;
    const npx = rows[3]!;
    out.push('', `RSS per deployment: package/npx = ${(pkg.rssMb / npx.rssMb).toFixed(2)}; second deploy time: package/npx = ${(pkg.ms / npx.ms).toFixed(2)}`);
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await berth.dispose();
  }
}

await main();
