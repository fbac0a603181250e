/** Real git repositories for tests: made with the system git in a temporary folder. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 't@example.invalid', GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 't@example.invalid' };

/** True when a git program is on the PATH. */
export function hasGit(): boolean {
  try {
    execFileSync('git', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export class TestRepo {
  /** The working repository commits are made in. */
  readonly work: string;
  /** A bare clone the tests fetch from (push() updates it). */
  readonly bare: string;
  private readonly top: string;

  constructor() {
    this.top = mkdtempSync(path.join(tmpdir(), 'berth-gitrepo-'));
    this.work = path.join(this.top, 'work');
    this.bare = path.join(this.top, 'repo.git');
    mkdirSync(this.work);
    this.git('init', '-q', '-b', 'main');
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', this.bare], { env: ENV });
  }

  git(...args: string[]): string {
    return execFileSync('git', args, { cwd: this.work, env: ENV, encoding: 'utf8' }).trim();
  }

  /** Writes the files (creating folders) and commits them; returns the commit id. */
  commit(files: Record<string, string>, message = 'change'): string {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(this.work, name)), { recursive: true });
      writeFileSync(path.join(this.work, name), text);
    }
    this.git('add', '-A');
    this.git('commit', '-q', '-m', message);
    return this.git('rev-parse', 'HEAD');
  }

  tag(name: string): void {
    this.git('tag', name);
  }

  branch(name: string, from = 'HEAD'): void {
    this.git('branch', name, from);
  }

  checkout(name: string): void {
    this.git('checkout', '-q', name);
  }

  /** Pushes every branch and tag to the bare repository. */
  push(): void {
    this.git('push', '-q', '--all', this.bare);
    this.git('push', '-q', '--tags', this.bare);
  }

  get fileUrl(): string {
    return `file://${this.bare}`;
  }

  remove(): void {
    rmSync(this.top, { recursive: true, force: true });
  }
}

/**
 * True when git is on the PATH. Otherwise, with CI=true, registers a failing test naming what is missing (a suite
 * must not pass by skipping there); locally it warns loudly and the suite skips.
 */
export function gitAvailable(suite: string, register: (name: string, fn: () => void) => void): boolean {
  if (hasGit()) return true;
  if (process.env.CI === 'true') register(`${suite} has git`, () => {
    throw new Error(`${suite} needs git on the PATH (apt-get install git); .ci/run installs it`);
  });
  else console.warn(`\n!!! SKIPPING ${suite}: git is not on the PATH !!!\n`);
  return false;
}
