import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryLogStore } from '../telemetry/memory-logs.js';
import type { ExitInfo, LaunchRequest, Runtime, StdioProcess } from './types.js';

export interface ContractContext {
  /** A fresh temp dir per test; two runtimes made with the same dir model two Berth lifetimes. */
  dataDir: string;
  logs: MemoryLogStore;
  /** A fresh temp dir outside the data dir that the runtime must accept as a cwd/mount root. */
  allowedRoot: string;
}

export interface RuntimeContractOptions {
  /**
   * Enables the crash test: a module exporting `createRuntime(dataDir: string, variant: string)`,
   * loaded in a separate Node process that launches a server and is then SIGKILLed.
   */
  crash?: {
    factoryModule: string;
    variant: string;
    /** The driver ties servers to Berth's lifetime (bubblewrap --die-with-parent): no orphan survives. */
    diesWithParent: boolean;
  };
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CRASH_HELPER = fileURLToPath(new URL('./crash-helper.contract.ts', import.meta.url));

/** Test programs, run as `node -e`. Each prints `ready` on stderr where timing matters. */
const PROGRAMS = {
  echo: "process.stdin.setEncoding('utf8'); let b=''; process.stdin.on('data', d => { b += d; let i; while ((i = b.indexOf('\\n')) >= 0) { process.stdout.write('echo:' + b.slice(0, i) + '\\n'); b = b.slice(i + 1); } });",
  env: "process.stdout.write(JSON.stringify({ FOO: process.env.FOO, VITEST: process.env.VITEST ?? null, keys: Object.keys(process.env) }) + '\\n'); setInterval(() => {}, 1000);",
  cwd: "process.stdout.write(process.cwd() + '\\n'); setInterval(() => {}, 1000);",
  exit3: "setTimeout(() => process.exit(3), 50);",
  graceful: "process.on('SIGTERM', () => { console.error('got SIGTERM'); setTimeout(() => process.exit(0), 20); }); console.error('ready'); setInterval(() => {}, 1000);",
  stubborn: "process.on('SIGTERM', () => console.error('ignoring SIGTERM')); console.error('ready'); setInterval(() => {}, 1000);",
  sleeper: 'setInterval(() => {}, 1000);',
};

export function nodeProgram(deploymentId: string, program: string, extra: Partial<LaunchRequest> = {}): LaunchRequest {
  return { deploymentId, instanceKey: 'main', command: 'node', args: ['-e', program], env: {}, ...extra };
}

/** The first line the process prints on stdout. */
export function firstLine(p: StdioProcess, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let settled = false;
    const timer = setTimeout(() => fail(`no stdout line within ${timeoutMs} ms`), timeoutMs);
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`${why} (got ${JSON.stringify(buf)})`));
    };
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      const i = buf.indexOf('\n');
      if (i >= 0 && !settled) {
        settled = true;
        clearTimeout(timer);
        p.stdout.off('data', onData);
        resolve(buf.slice(0, i));
      }
    };
    p.stdout.on('data', onData);
    // A process that exits without a line fails at once (its stderr is in the deployment's logs).
    void p.exited.then((e) => setTimeout(() => fail(`the process exited (${e.signal ?? `code ${e.code}`}${e.reason ? `, ${e.reason}` : ''}) without a stdout line`), 50));
  });
}

/** Waits until a log line of the deployment matches. */
export async function waitForLog(logs: MemoryLogStore, id: string, re: RegExp, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await logs.read(id, { tail: 1000 })).some((e) => re.test(e.line))) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no log line matching ${re} for ${id}: ${JSON.stringify(await logs.read(id))}`);
}

/** Alive and not a zombie (an orphan that was killed may stay a zombie if nobody reaps it). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

async function waitDead(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !pidAlive(pid);
}

function settled<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);
}

export function runRuntimeContract(
  name: string,
  makeRuntime: (ctx: ContractContext) => Runtime | Promise<Runtime>,
  opts: RuntimeContractOptions = {},
): void {
  describe(`Runtime contract: ${name}`, () => {
    let ctx: ContractContext;
    const runtimes: Runtime[] = [];
    const strays: number[] = [];

    const make = async (dataDir = ctx.dataDir): Promise<Runtime> => {
      const rt = await makeRuntime({ ...ctx, dataDir });
      runtimes.push(rt);
      return rt;
    };

    beforeEach(() => {
      ctx = { dataDir: mkdtempSync(path.join(os.tmpdir(), 'berth-rt-')), logs: new MemoryLogStore(), allowedRoot: mkdtempSync(path.join(os.tmpdir(), 'berth-rt-root-')) };
    });
    afterEach(async () => {
      await Promise.all(runtimes.splice(0).map((rt) => rt.stopAll(200)));
      for (const pid of strays.splice(0)) {
        for (const target of [-pid, pid]) {
          try {
            process.kill(target, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      }
      rmSync(ctx.dataDir, { recursive: true, force: true });
      rmSync(ctx.allowedRoot, { recursive: true, force: true });
    });

    it('round-trips lines through stdin and stdout', async () => {
      const rt = await make();
      const p = await rt.launch(nodeProgram('echo', PROGRAMS.echo));
      expect(p.pid).toBeGreaterThan(0);
      const reply = firstLine(p);
      p.stdin.write('hello\n');
      expect(await reply).toBe('echo:hello');
    });

    it('passes exactly the given env (Berth’s own is not inherited)', async () => {
      expect(process.env.VITEST).toBeDefined(); // the leak we are checking for
      const rt = await make();
      const p = await rt.launch(nodeProgram('env', PROGRAMS.env, { env: { FOO: 'bar baz' } }));
      const seen = JSON.parse(await firstLine(p)) as { FOO: string; VITEST: string | null; keys: string[] };
      expect(seen.FOO).toBe('bar baz');
      expect(seen.VITEST).toBeNull();
    });

    it('honours cwd', async () => {
      const rt = await make();
      const cwd = path.join(ctx.allowedRoot, 'custom-cwd');
      mkdirSync(cwd);
      const p = await rt.launch(nodeProgram('cwd', PROGRAMS.cwd, { cwd }));
      expect(await firstLine(p)).toBe(realpathSync(cwd));
    });

    it('exited resolves with the code when the server exits on its own', async () => {
      const rt = await make();
      const p = await rt.launch(nodeProgram('exit3', PROGRAMS.exit3));
      expect(await p.exited).toEqual<ExitInfo>({ code: 3, signal: null });
      // stop() after exit is a no-op that reports the same exit.
      expect(await p.stop()).toEqual<ExitInfo>({ code: 3, signal: null });
    });

    it('stop() sends SIGTERM first, so a well-behaved server exits cleanly and quickly', async () => {
      const rt = await make();
      const p = await rt.launch(nodeProgram('graceful', PROGRAMS.graceful));
      await waitForLog(ctx.logs, 'graceful', /^ready$/);
      const t0 = Date.now();
      const info = await p.stop(10_000);
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(info).toEqual<ExitInfo>({ code: 0, signal: null });
      await waitForLog(ctx.logs, 'graceful', /got SIGTERM/);
    });

    it('stop() SIGKILLs a server that ignores SIGTERM after the grace, and is idempotent', async () => {
      const rt = await make();
      const p = await rt.launch(nodeProgram('stubborn', PROGRAMS.stubborn));
      await waitForLog(ctx.logs, 'stubborn', /^ready$/);
      const t0 = Date.now();
      const [a, b] = await Promise.all([p.stop(600), p.stop(600)]);
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(550);
      expect(took).toBeLessThan(5_000);
      expect(a).toEqual(b);
      expect(a).not.toEqual({ code: 0, signal: null });
      expect(await settled(p.exited, 0)).toEqual(a);
      expect(await waitDead(p.pid, 2_000)).toBe(true);
      expect(await p.stop()).toEqual(a);
    });

    it('rejects launching a missing command with a clear error', async () => {
      const rt = await make();
      const cmd = 'berth-no-such-command-xyz';
      await expect(rt.launch({ deploymentId: 'missing', instanceKey: 'main', command: cmd, args: [], env: {} })).rejects.toThrow(
        new RegExp(`${cmd}.*(not found|ENOENT)`, 'i'),
      );
    });

    it('stopAll() ends every process the runtime started', async () => {
      const rt = await make();
      const procs = await Promise.all(['a', 'b', 'c'].map((k) => rt.launch(nodeProgram('many', PROGRAMS.stubborn, { instanceKey: k }))));
      await rt.stopAll(300);
      for (const p of procs) {
        expect(await settled(p.exited, 0)).not.toBe('pending');
        expect(await waitDead(p.pid, 2_000)).toBe(true);
      }
    });

    it('reapOrphans() on a new runtime ends what a previous one left running', async () => {
      const first = await make();
      const p = await first.launch(nodeProgram('left', PROGRAMS.sleeper, { instanceKey: 'k1' }));
      const second = await make(ctx.dataDir);
      const ended = await second.reapOrphans();
      expect(ended).toEqual([{ deploymentId: 'left', instanceKey: 'k1', pid: p.pid }]);
      expect(await settled(p.exited, 10_000)).not.toBe('pending');
      expect(await waitDead(p.pid, 2_000)).toBe(true);
      expect(await second.reapOrphans()).toEqual([]);
    });

    if (opts.crash) {
      const crash = opts.crash;
      it(`after a Berth crash, ${crash.diesWithParent ? 'no orphan survives and reapOrphans() cleans up' : 'reapOrphans() ends the orphan and reports it'}`, async () => {
        const helper = spawn(process.execPath, ['--import', 'tsx', CRASH_HELPER, crash.factoryModule, crash.variant, ctx.dataDir], {
          cwd: REPO_ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let err = '';
        helper.stderr.on('data', (d: Buffer) => (err += d.toString()));
        const pid = await new Promise<number>((resolve, reject) => {
          let out = '';
          helper.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            const m = /\{"pid":(\d+)\}/.exec(out);
            if (m) resolve(Number(m[1]));
          });
          helper.once('exit', (code) => reject(new Error(`crash helper exited with ${code}: ${err}`)));
        });
        strays.push(pid);
        const helperGone = new Promise((r) => helper.once('exit', r));
        helper.kill('SIGKILL');
        await helperGone;
        const rt = await make();
        if (crash.diesWithParent) {
          expect(await waitDead(pid, 5_000)).toBe(true);
          expect(await rt.reapOrphans()).toEqual([]);
        } else {
          await new Promise((r) => setTimeout(r, 200));
          expect(pidAlive(pid)).toBe(true); // a real orphan
          expect(await rt.reapOrphans()).toEqual([{ deploymentId: 'crash', instanceKey: 'main', pid }]);
          expect(await waitDead(pid, 5_000)).toBe(true);
        }
        expect(await rt.reapOrphans()).toEqual([]);
      });
    }
  });
}
