/**
 * A shallow fetch of one ref of a git repository with the system git: `git init`, `git fetch --depth 1 URL REF`,
 * checkout of FETCH_HEAD. A commit id the server will not hand out shallow is fetched with the branches and tags
 * instead. A token reaches git through GIT_ASKPASS (a script that reads it from git's environment), never through
 * argv, the URL, a log line or the revision. No hooks, no submodules, no user or system git config, no prompts.
 */
import { chmod, mkdir, mkdtemp, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import { runGit, type GitResult } from './run.js';
import { checkGitUrl, redactUrl, type GitUrlAllowance } from './url.js';

export interface GitFetchRequest {
  url: string;
  /** Branch, tag or commit (full or abbreviated); absent: the remote's default branch. */
  ref?: string;
  /** Folder inside the repository that is the source's root. */
  subdir?: string;
  /** A token for a private https repository (`TOKEN`, or `USER:TOKEN` when the host wants a user name). */
  token?: string;
}

export interface GitFetchOptions {
  /** Where the temporary checkout is made (a folder of Berth's; created when missing). */
  workDir: string;
  /** The whole fetch (all git commands together) is killed after this. */
  timeoutMs: number;
  log?: (line: string) => void;
  /** file:// and plain paths, plain http (tests, local setups); default: https, ssh and git only. */
  allow?: GitUrlAllowance;
  /** The git program (default `git` on the PATH). */
  git?: string;
  /** git's PATH (default: the usual system folders). */
  path?: string;
  /** git's HOME, for ssh's keys and known_hosts (default: the Berth user's home); git's own config there is not read. */
  home?: string;
}

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface FetchedGit {
  /** The full commit id checked out. */
  commit: string;
  /** The source's root: the checkout, or its subdirectory. */
  root: string;
  /** Removes the checkout. */
  cleanup(): Promise<void>;
}

const FULL_SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
const SHORT_SHA = /^[0-9a-f]{7,64}$/;
const ASKPASS = `#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$BERTH_GIT_USER" ;;
  *) printf '%s\\n' "$BERTH_GIT_TOKEN" ;;
esac
`;

/** Fetches `req.ref` of `req.url` shallow into a new folder under `opts.workDir`. */
export async function fetchGit(req: GitFetchRequest, opts: GitFetchOptions): Promise<FetchedGit> {
  const checked = checkGitUrl(req.url, opts.allow);
  if (req.ref !== undefined && (req.ref.startsWith('-') || !/^[^\s~^:?*[\\]+$/.test(req.ref))) {
    throw new BerthError('GIT_REF_NOT_FOUND', `${JSON.stringify(req.ref)} is not a branch, tag or commit name`);
  }
  await mkdir(opts.workDir, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(path.join(opts.workDir, 'git-'));
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const repo = path.join(dir, 'repo');
    const env = await gitEnv(dir, checked.protocols, req.token, { path: opts.path ?? SYSTEM_PATH, home: opts.home ?? homedir() });
    const deadline = Date.now() + opts.timeoutMs;
    const git = (args: string[]): Promise<GitResult> => runGit(args, { cwd: repo, env, deadline, git: opts.git });
    const shown = `${redactUrl(req.url)}${req.ref ? ` ${req.ref}` : ''}`;
    const fail = (r: GitResult, what: string): never => {
      throw gitError(r, what, shown, opts.timeoutMs, req.token);
    };
    await mkdir(repo);
    const init = await git(['init', '-q']);
    if (init.code !== 0) fail(init, 'git init');
    opts.log?.(`git: fetching ${shown} (shallow)`);
    const ref = req.ref ?? 'HEAD';
    const shallow = await git(['fetch', '-q', '--depth', '1', '--no-tags', '--no-recurse-submodules', '--', checked.url, ref]);
    if (shallow.code === 0) {
      const co = await git(['checkout', '-q', '--detach', 'FETCH_HEAD']);
      if (co.code !== 0) fail(co, 'git checkout');
    } else {
      const kind = classify(shallow);
      // A commit id the server will not give out by itself (or an abbreviated one): fetch branches and tags, then look it up.
      if (!(kind === 'ref' && SHORT_SHA.test(ref))) fail(shallow, 'git fetch');
      opts.log?.(`git: ${ref} is not a branch or tag the server hands out shallow; fetching its branches and tags`);
      const deep = await git(['fetch', '-q', '--no-recurse-submodules', '--', checked.url, '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*']);
      if (deep.code !== 0) fail(deep, 'git fetch');
      const found = await git(['rev-parse', '-q', '--verify', `${ref}^{commit}`]);
      if (found.code !== 0 || (FULL_SHA.test(ref) && found.stdout.trim() !== ref)) {
        throw new BerthError('GIT_REF_NOT_FOUND', `${redactUrl(req.url)} has no branch, tag or commit ${JSON.stringify(ref)}`, { url: redactUrl(req.url), ref });
      }
      const co = await git(['checkout', '-q', '--detach', found.stdout.trim()]);
      if (co.code !== 0) fail(co, 'git checkout');
    }
    const head = await git(['rev-parse', 'HEAD']);
    if (head.code !== 0) fail(head, 'git rev-parse');
    const commit = head.stdout.trim();
    const root = await subdirOf(repo, req.subdir, req.url, req.ref ?? 'the default branch', commit);
    opts.log?.(`git: ${shown} is commit ${commit}${req.subdir ? `, folder ${req.subdir}` : ''}`);
    return { commit, root, cleanup };
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
}

/** git's environment: no user or system config, no prompts, no hooks, only the URL's protocol, the token for askpass. */
async function gitEnv(dir: string, protocols: string[], token: string | undefined, where: { path: string; home: string }): Promise<Record<string, string>> {
  const config: [string, string][] = [
    ['core.hooksPath', '/dev/null'],
    ['core.fsmonitor', 'false'],
    ['advice.detachedHead', 'false'],
    ['init.defaultBranch', 'main'],
    ['submodule.recurse', 'false'],
    ['fetch.recurseSubmodules', 'false'],
    ['credential.helper', ''],
    ['protocol.version', '2'],
    ['http.followRedirects', 'initial'],
  ];
  const env: Record<string, string> = {
    PATH: where.path,
    // ssh keys and known_hosts are the Berth user's; git's own config is not read (GIT_CONFIG_GLOBAL below).
    HOME: where.home,
    LANG: 'C',
    LC_ALL: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ALLOW_PROTOCOL: protocols.join(':'),
    GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
    GIT_CONFIG_COUNT: String(config.length),
  };
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  const askpass = path.join(dir, 'askpass.sh');
  await writeFile(askpass, ASKPASS, { mode: 0o700 });
  await chmod(askpass, 0o700);
  env.GIT_ASKPASS = askpass;
  if (token !== undefined && token !== '') {
    const colon = token.indexOf(':');
    env.BERTH_GIT_USER = colon > 0 ? token.slice(0, colon) : 'x-access-token';
    env.BERTH_GIT_TOKEN = colon > 0 ? token.slice(colon + 1) : token;
  } else {
    // No token: askpass answers nothing, so a private repository fails at once instead of prompting.
    env.BERTH_GIT_USER = '';
    env.BERTH_GIT_TOKEN = '';
  }
  return env;
}

async function subdirOf(repo: string, subdir: string | undefined, url: string, ref: string, commit: string): Promise<string> {
  if (subdir === undefined || subdir === '' || subdir === '.') return repo;
  const notFound = (why: string): never => {
    throw new BerthError('GIT_SUBDIR_NOT_FOUND', `${redactUrl(url)} at ${ref} (${commit.slice(0, 12)}) has no folder ${JSON.stringify(subdir)}${why}`, { subdir, commit });
  };
  if (path.isAbsolute(subdir) || subdir.split(/[\\/]/).includes('..')) notFound(': it must be a relative path without ..');
  const wanted = path.join(repo, subdir);
  let real: string;
  try {
    real = await realpath(wanted);
  } catch {
    return notFound('');
  }
  const top = await realpath(repo);
  if (real !== top && !real.startsWith(`${top}${path.sep}`)) notFound(': it leads outside the repository');
  if (real === path.join(top, '.git') || real.startsWith(path.join(top, '.git') + path.sep)) notFound('');
  if (!(await stat(real)).isDirectory()) notFound(': it is a file');
  return real;
}

type Failure = 'ref' | 'auth' | 'other';

function classify(r: GitResult): Failure {
  const e = r.stderr;
  if (/couldn't find remote ref|not our ref|unadvertised object|no such remote ref|invalid refspec|fatal: invalid reference/i.test(e)) return 'ref';
  if (/Authentication failed|could not read (Username|Password)|terminal prompts disabled|Permission denied \(publickey|HTTP Basic: Access denied|The requested URL returned error: 40[13]|Invalid username or password/i.test(e)) return 'auth';
  return 'other';
}

function gitError(r: GitResult, what: string, shown: string, timeoutMs: number, token: string | undefined): BerthError {
  if (r.timedOut) return new BerthError('GIT_FETCH_FAILED', `fetching ${shown} took longer than ${Math.round(timeoutMs / 1000)} s and was stopped`, { timeout_s: Math.round(timeoutMs / 1000) });
  const said = tidy(r.stderr, token);
  switch (classify(r)) {
    case 'ref':
      return new BerthError('GIT_REF_NOT_FOUND', `${shown}: no such branch, tag or commit (${said})`, { git: said });
    case 'auth':
      return new BerthError('GIT_AUTH_FAILED', `${shown}: the repository refused the credentials${token ? '' : ' (it needs a token: give the source a token secret_ref:SCOPE:KEY)'} (${said})`, { git: said });
    default:
      return new BerthError('GIT_FETCH_FAILED', `${what} ${shown} failed (exit ${r.code ?? 'signal'}): ${said}`, { git: said });
  }
}

/** git's last error lines, short, with the token (if git ever echoed it) masked. */
function tidy(stderr: string, token: string | undefined): string {
  let text = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('hint:')).slice(-4).join(' / ');
  if (token) for (const part of new Set([token, ...token.split(':')])) if (part.length >= 4) text = text.split(part).join('***');
  return text.slice(0, 800) || 'no message from git';
}
