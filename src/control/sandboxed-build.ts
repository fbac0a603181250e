/**
 * Install and build steps of a source deployment, run inside the process sandbox (ADR 0023): the same bubblewrap,
 * network policy (default `egress`: the internet, not the host, Berth or other servers) and memory/pids/CPU limits
 * as the server, with ONLY the revision's workspace writable (`workspaceMode: 'rw'`), plus the deployment's own
 * HOME (`<dataDir>/work/<id>/home`), where npm's and pip's caches go. Nothing else of the data dir is visible.
 */
import type { ToolResult } from '../packages/run.js';
import type { LaunchPolicy, StdioLauncher } from '../runtime/types.js';

export interface BuildStep {
  deploymentId: string;
  revision: number;
  /** The revision's workspace (under `<dataDir>/workspaces`): the step's cwd, the one folder it may write. */
  workspace: string;
  argv: string[];
  /** The deployment's network and limits (spec.network, spec.limits); its mounts and cwd do not apply. */
  policy: Pick<LaunchPolicy, 'network' | 'limits'>;
  timeoutMs: number;
  onLine: (line: string) => void;
}

/** Runs one step to completion; like runTool it never rejects for the step's own failure (only when it cannot start). */
export type BuildRunner = (step: BuildStep) => Promise<ToolResult>;

const TAIL_LINES = 20;
const MAX_LINE = 2000;
/** Lines passed on to the deployment's log per step; the rest is counted, not kept. */
const MAX_LOGGED_LINES = 5000;
const KILL_GRACE_MS = 2000;

/** Merges stderr into stdout inside the sandbox, so the failure tail has both (the runtime only logs stderr). */
const MERGE = 'exec "$@" 2>&1';

export function createSandboxedBuild(deps: {
  launcher: StdioLauncher;
  /** The step's environment (PATH, LANG, registry mirrors): no secret. HOME is the runtime's per-deployment one. */
  env: Record<string, string>;
}): BuildRunner {
  return async (step) => {
    const p = await deps.launcher.launch({
      deploymentId: step.deploymentId,
      instanceKey: `build-r${step.revision}`,
      command: 'sh',
      args: ['-c', MERGE, 'berth-build', ...step.argv],
      env: { ...deps.env },
      workspace: step.workspace,
      workspaceMode: 'rw',
      ...(step.policy.network ? { network: step.policy.network } : {}),
      ...(step.policy.limits ? { limits: step.policy.limits } : {}),
    });
    p.stdin.end();
    const tail: string[] = [];
    let logged = 0;
    let partial = '';
    const line = (l: string): void => {
      const cut = l.length > MAX_LINE ? `${l.slice(0, MAX_LINE)}…` : l;
      tail.push(cut);
      if (tail.length > TAIL_LINES) tail.shift();
      if (++logged <= MAX_LOGGED_LINES) step.onLine(cut);
    };
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      partial += d;
      const parts = partial.split(/\r?\n/);
      partial = parts.pop() ?? '';
      if (partial.length > MAX_LINE * 4) {
        parts.push(partial);
        partial = '';
      }
      for (const l of parts) line(l);
    });
    p.stdout.on('error', () => {});
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void p.stop(KILL_GRACE_MS);
    }, step.timeoutMs);
    const info = await p.exited.finally(() => clearTimeout(timer));
    // The pipe may still hold the last lines when the exit is seen.
    if (!p.stdout.readableEnded && !p.stdout.destroyed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        const done = (): void => {
          clearTimeout(t);
          resolve();
        };
        p.stdout.once('end', done).once('close', done);
      });
    }
    if (partial !== '') line(partial);
    if (logged > MAX_LOGGED_LINES) step.onLine(`(${logged - MAX_LOGGED_LINES} more lines of output not logged)`);
    if (info.reason) tail.push(info.reason);
    return { code: info.code, signal: info.signal, stdout: '', stderrTail: tail, timedOut };
  };
}
