/**
 * The endpoint factory's `prepare` hook (issue 12): a source or image spec turned into what its runtime launches.
 * - image → the image as it is (container runtime);
 * - source on the container runtime → the revision's image, built once by `images` (IMAGE's RevisionImages);
 * - source on the process runtime → the revision's workspace `<dataDir>/workspaces/<id>/<revision>`: a copy of the
 *   stored tree with its dependencies installed (and its build run) once, per the detection plan; a restart, a
 *   replica or a scale-from-zero finds the ready marker and reuses it. The server then runs in it (read-only).
 * Installs run inside the server's sandbox (`build`, src/control/sandboxed-build.ts): its network policy and limits,
 * only the workspace writable, a deadline and their output in the deployment's log. Without a sandbox (BERTH_SANDBOX=none
 * or no bubblewrap) they run as plain children with a clean environment (no Berth secret, no deployment env), and the
 * log says so.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DetectReport } from '../build/detect/index.js';
import { BerthError } from '../core/errors.js';
import type { Deployment, ImageSpec, SourceSpec, WorkloadRuntimeName } from '../core/index.js';
import type { ToolRunner } from '../packages/run.js';
import type { SourceStore } from '../sources/index.js';
import type { HostedLaunch } from './endpoints.js';
import type { RevisionImages } from './image-builds.js';
import { launchPolicy } from './launch-policy.js';
import type { BuildRunner } from './sandboxed-build.js';

/** IMAGE's per-revision image builder (src/control/image-builds.ts). */
export type { RevisionImages };

export interface SourceLaunchDeps {
  store: Pick<SourceStore, 'get'>;
  detect: (root: string) => DetectReport | Promise<DetectReport>;
  /** `<dataDir>/workspaces`. */
  workspaces: string;
  /** Runs install and build steps in the sandbox (createSandboxedBuild). Absent: `run` runs them unsandboxed. */
  build?: BuildRunner;
  /** Runs install and build steps as plain children (runTool) when there is no `build`. */
  run: ToolRunner;
  /** Why there is no `build` (logged once per install), e.g. `BERTH_SANDBOX=none`. */
  noSandboxReason?: string;
  /** Deadline of one revision's install and build together (BERTH_BUILD_TIMEOUT_S). */
  buildTimeoutMs: number;
  /** PATH, HOME and the like for unsandboxed installs: no secret of Berth's. */
  env: Record<string, string>;
  /** The interpreter venvs are made from (BERTH_PYTHON). */
  python: string;
  defaultRuntime: WorkloadRuntimeName;
  /** Source on the container runtime; absent: RUNTIME_UNAVAILABLE. */
  images?: RevisionImages;
}

type Ctx = { log: (line: string) => void; progress: (message: string) => void };
type Prepared = Deployment & { spec: SourceSpec | ImageSpec };

/** The launch of an image spec (the simple mapping of interfaces.md). */
export function imageLaunch(spec: ImageSpec): HostedLaunch {
  return {
    command: spec.command?.[0] ?? '',
    args: [...(spec.command?.slice(1) ?? []), ...spec.args],
    env: {},
    internalMounts: [],
    image: { ref: spec.image, serves: spec.transport, port: spec.port ?? 8080, path: spec.path },
  };
}

const READY = '.ready';

/** `prepare` for createEndpointFactory, plus the workspace housekeeping the deployment's life needs. */
export function createSourceLaunch(deps: SourceLaunchDeps): {
  prepare: (d: Prepared, ctx: Ctx) => Promise<HostedLaunch>;
  /** Removes every workspace of a deployment (it was deleted). */
  removeWorkspaces: (deploymentId: string) => Promise<void>;
} {
  /** One install per workspace at a time, in this Berth. */
  const inflight = new Map<string, Promise<void>>();

  const dirOf = (id: string): string => {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw new BerthError('VALIDATION_FAILED', `invalid deployment id ${JSON.stringify(id)}`);
    return path.join(deps.workspaces, id);
  };

  const prepare = async (d: Prepared, ctx: Ctx): Promise<HostedLaunch> => {
    const spec = d.spec;
    if (spec.type === 'image') return imageLaunch(spec);
    const digest = spec.source.digest;
    if (digest === undefined) throw new BerthError('SOURCE_NOT_FOUND', 'The source was not pinned to a stored tree at deploy time; update the deployment to fetch it again');
    const stored = await deps.store.get(digest);
    if (!stored) throw new BerthError('SOURCE_NOT_FOUND', `The stored source ${digest} is gone from this Berth's source store; deploy the code again`, { digest });
    const report = await deps.detect(stored.root);
    const runtime = spec.runtime ?? deps.defaultRuntime;
    if (runtime === 'container') {
      if (!deps.images) throw new BerthError('RUNTIME_UNAVAILABLE', 'source deployments on the container runtime need image builds, which this Berth does not have');
      const built = await deps.images.imageFor(
        { deploymentId: d.id, revision: d.revision, digest, root: stored.root, report, ...(spec.start ? { start: spec.start } : {}), args: spec.args },
        ctx,
      );
      return { command: '', args: [], env: {}, internalMounts: [], image: { ref: built.ref, serves: 'http', port: 8080, path: '/mcp' } };
    }
    const ws = path.join(dirOf(d.id), String(d.revision));
    const key = `${d.id}/${d.revision}`;
    let job = inflight.get(key);
    if (!job) {
      job = ensureWorkspace(d, stored.root, ws, report, ctx).finally(() => inflight.delete(key));
      inflight.set(key, job);
    }
    await job;
    await prune(d).catch((err: unknown) => ctx.log(`could not remove old workspaces: ${(err as Error).message}`));
    const start = startCommand(spec.start ?? report.plan?.start ?? null, ws, deps.python);
    if (!start) throw new BerthError('SOURCE_INVALID', 'No start command: detection found none and spec.start is not set', { problems: report.problems, report });
    const [command, ...args] = start as [string, ...string[]];
    ctx.log(`running revision ${d.revision} from its workspace ${ws}: ${[command, ...args, ...spec.args].join(' ')}`);
    return { command, args: [...args, ...spec.args], env: {}, internalMounts: [], workspace: ws };
  };

  /** Copies the tree in and installs, unless a ready workspace is there already. */
  const ensureWorkspace = async (d: Prepared, root: string, ws: string, report: DetectReport, ctx: Ctx): Promise<void> => {
    if (await exists(`${ws}${READY}`)) return;
    await rm(ws, { recursive: true, force: true });
    await mkdir(path.dirname(ws), { recursive: true, mode: 0o755 });
    const tmp = `${ws}.copy-${randomBytes(4).toString('hex')}`;
    try {
      await cp(root, tmp, { recursive: true, errorOnExist: true, force: false, verbatimSymlinks: true });
      await writable(tmp);
      // Installs write absolute paths (venv scripts, npm bins): the tree must be at its final place first.
      await rename(tmp, ws);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    const deadline = Date.now() + deps.buildTimeoutMs;
    const steps = installSteps(report, ws, deps.python);
    if (steps.length > 0 && !deps.build) ctx.log(`installing WITHOUT a sandbox (${deps.noSandboxReason ?? 'no sandbox'}): the install and build scripts run on the Berth host with a clean environment`);
    try {
      for (const step of steps) {
        ctx.progress(step.progress);
        ctx.log(`${step.progress.replace(/…$/, '')}: ${step.argv.join(' ')}`);
        await runStep(d, step.argv, ws, deadline, ctx);
      }
    } catch (err) {
      await rm(ws, { recursive: true, force: true });
      throw err;
    }
    await writeFile(`${ws}${READY}`, `${new Date().toISOString()}\n`);
  };

  const runStep = async (d: Prepared, argv: string[], cwd: string, deadline: number, ctx: Ctx): Promise<void> => {
    const left = deadline - Date.now();
    if (left <= 0) throw new BerthError('BUILD_FAILED', `Installing the source took longer than ${Math.round(deps.buildTimeoutMs / 1000)} s (BERTH_BUILD_TIMEOUT_S)`);
    const [command, ...args] = argv as [string, ...string[]];
    let r;
    try {
      if (deps.build) {
        const { network, limits } = launchPolicy(d.spec);
        r = await deps.build({ deploymentId: d.id, revision: d.revision, workspace: cwd, argv, policy: { network, limits }, timeoutMs: left, onLine: (l) => ctx.log(l) });
      } else {
        r = await deps.run({ command, args, cwd, env: deps.env, timeoutMs: left, onLine: (l) => ctx.log(l), maxOutputBytes: 256 * 1024 });
      }
    } catch (err) {
      if (err instanceof BerthError) throw new BerthError('BUILD_FAILED', `Cannot run ${command}: ${err.message}`, { cause: err.code });
      throw new BerthError('BUILD_FAILED', `Cannot run ${command}: ${(err as Error).message}${(err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (not installed on the Berth host)' : ''}`);
    }
    for (const line of r.stdout.split(/\r?\n/).slice(-50)) if (line.trim() !== '') ctx.log(line);
    if (r.timedOut) throw new BerthError('BUILD_FAILED', `${argv.join(' ')} took longer than ${Math.round(deps.buildTimeoutMs / 1000)} s (BERTH_BUILD_TIMEOUT_S)`);
    if (r.code !== 0) {
      const tail = r.stderrTail.slice(-5).join(' | ');
      throw new BerthError('BUILD_FAILED', `${argv.join(' ')} failed (exit ${r.code ?? r.signal})${tail ? `: ${tail}` : ''}; see berth logs`, { command: argv });
    }
  };

  /** After revision N is ready: keep N, the serving one (and anything newer than N); drop the rest. */
  const prune = async (d: Prepared): Promise<void> => {
    const dir = dirOf(d.id);
    const keep = new Set([d.revision, d.serving_revision ?? d.revision]);
    for (const name of await readdir(dir)) {
      const n = Number(/^(\d+)(\.ready)?$/.exec(name)?.[1] ?? NaN);
      if (!Number.isInteger(n) || keep.has(n) || n > d.revision || inflight.has(`${d.id}/${n}`)) continue;
      await rm(path.join(dir, name), { recursive: true, force: true });
    }
  };

  return {
    prepare,
    removeWorkspaces: async (id) => {
      await rm(dirOf(id), { recursive: true, force: true });
    },
  };
}

/** What runs, in order, to make a workspace ready, with the status message of each step. */
export function installSteps(report: DetectReport, ws: string, python: string): { argv: string[]; progress: string }[] {
  const plan = report.plan;
  if (!plan) return [];
  if (plan.language === 'node') {
    const steps = [{ argv: plan.install, progress: 'installing dependencies…' }];
    if (plan.build) steps.push({ argv: plan.build, progress: 'building…' });
    return steps;
  }
  if (plan.install.length === 0) return [];
  if (plan.packageManager === 'pip') {
    const py = path.join(ws, '.venv', 'bin', 'python');
    return [
      { argv: [python, '-m', 'venv', path.join(ws, '.venv')], progress: 'installing dependencies…' },
      { argv: [py, '-m', ...plan.install, '--disable-pip-version-check', '--no-input'], progress: 'installing dependencies…' },
    ];
  }
  return [{ argv: plan.install, progress: 'installing dependencies…' }];
}

/** The start command as it runs in the workspace: `python` is the venv's (else the host's), a console script the venv's, npm quiet. */
export function startCommand(start: string[] | null, ws: string, python: string): string[] | null {
  if (!start || start.length === 0) return null;
  const venvBin = path.join(ws, '.venv', 'bin');
  const [first, ...rest] = start as [string, ...string[]];
  if (first === 'python' || first === 'python3') return [hasVenvSync(ws) ? path.join(venvBin, 'python') : python, ...rest];
  // npm, yarn, pnpm print a banner on stdout before the script runs, which would break the stdio protocol.
  if ((first === 'npm' || first === 'pnpm') && rest[0] === 'run') return [first, 'run', '--silent', ...rest.slice(1)];
  if (first === 'yarn' && rest[0] === 'run') return [first, '--silent', ...rest];
  if (!first.includes('/') && hasVenvSync(ws)) return [path.join(venvBin, first), ...rest];
  return start;
}

/** Sync on purpose: one tiny check per start. */
function hasVenvSync(ws: string): boolean {
  return existsSync(path.join(ws, '.venv', 'bin', 'python'));
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** The stored tree is read-only; its workspace copy is the install's to write. */
async function writable(root: string): Promise<void> {
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const abs = path.join(e.parentPath, e.name);
    const st = await stat(abs);
    await chmod(abs, st.mode | 0o200);
  }
}
