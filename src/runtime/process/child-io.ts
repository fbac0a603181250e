import type { ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** Child fds: 0-2 stdio, 3 bwrap's info (sandbox pid), 4 bwrap's go signal, then held-open mounts. */
export const INFO_FD = 3;
export const BLOCK_FD = 4;

/** mkdir -p that refuses to follow a symlink a server planted where its HOME should be. */
export async function ensureOwnDir(dir: string): Promise<void> {
  await fsp.mkdir(path.dirname(dir), { recursive: true });
  const st = await fsp.lstat(dir).catch(() => null);
  if (st && !st.isDirectory()) await fsp.rm(dir, { force: true });
  await fsp.mkdir(dir, { recursive: true });
}

/** Resolves when `child` has exited (at once when it already has). */
export function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Writes bwrap's go signal; settles on flush, error or close, whichever comes first. */
export function release(go: Writable): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      go.off('close', done);
      resolve();
    };
    go.once('close', done);
    go.end('1', () => {
      done();
      go.destroy();
    });
  });
}

/** bwrap's --info-fd report: the pid of the sandbox's first process (in its namespaces). */
export function sandboxPidOf(child: ChildProcess, timeoutMs = 10_000): Promise<number> {
  const info = child.stdio[INFO_FD] as Readable;
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (err: Error | null, pid?: number): void => {
      clearTimeout(timer);
      info.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(pid!);
    };
    const onData = (d: Buffer): void => {
      text += d.toString('utf8');
      if (text.length > 64 * 1024) return done(new Error('bwrap info is too long'));
      try {
        const pid = (JSON.parse(text) as { 'child-pid'?: unknown })['child-pid'];
        if (typeof pid === 'number' && Number.isInteger(pid) && pid > 1) done(null, pid);
        else done(new Error(`bwrap reported no child pid: ${text.slice(0, 200)}`));
      } catch {
        /* not complete yet */
      }
    };
    const onExit = (code: number | null, signal: string | null): void => done(new Error(`the sandbox exited (${signal ?? `code ${code}`}) before it started; see the logs`));
    const timer = setTimeout(() => done(new Error(`bwrap did not report its pid within ${timeoutMs} ms`)), timeoutMs);
    info.on('data', onData);
    child.once('exit', onExit);
  });
}
