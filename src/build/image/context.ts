/**
 * Build contexts as tar streams (tar-stream): a stored source tree (optionally under a prefix such as `app/`),
 * filtered by its `.dockerignore`, plus generated files (the Dockerfile, the bridge, the build CA). The whole tree
 * is listed (and its size checked against the bound) before a byte is sent, then the files are streamed one at a
 * time, so a context of any size costs one file's read buffer. Entries carry fixed owners and times, so the same
 * tree always makes the same context and the engine's layer cache keys only on content.
 */
import { createReadStream, existsSync, lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import ignore from 'ignore';
import { pack as tarPack } from 'tar-stream';
import { BerthError } from '../../core/errors.js';

/** A file the context gets besides the tree: its bytes, or a file on disk to stream. */
export interface ExtraFile {
  name: string;
  content?: Buffer | string;
  path?: string;
  mode?: number;
}

export interface ContextEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink';
  size: number;
  mode: number;
  /** The file on disk (files), or the link's target (symlinks). */
  source?: string;
  content?: Buffer;
}

export interface ContextOptions {
  /** The source tree to put in the context (read-only; nothing there is changed). */
  root?: string;
  /** Where the tree goes in the context, e.g. `app` (default: at the top). */
  prefix?: string;
  /** Generated files (the Dockerfile, berth/berth.mjs, berth/build-ca.pem). */
  extra?: ExtraFile[];
  /** Patterns (.dockerignore syntax) always left out besides the tree's own `.dockerignore`; `.git` always is. */
  ignore?: string[];
  /** Most bytes of file content the context may hold (SOURCE_TOO_LARGE beyond). */
  maxBytes: number;
  /** Most entries (SOURCE_TOO_LARGE beyond; default 200 000). */
  maxEntries?: number;
}

/** Entries get this time, so equal trees make equal contexts. */
const MTIME = new Date('2000-01-01T00:00:00Z');

/**
 * A `.dockerignore` in `ignore`'s (gitignore) terms: Docker's patterns are relative to the context root, so each
 * is anchored there (`*.md` is the top folder's, `** /*.md` any folder's), and `!` re-includes.
 */
export function dockerignoreMatcher(patterns: string[]): (path: string, dir: boolean) => boolean {
  const ig = ignore();
  for (const raw of patterns) {
    let p = raw.trim();
    if (p === '' || p.startsWith('#')) continue;
    const negate = p.startsWith('!');
    if (negate) p = p.slice(1).trim();
    p = posix.normalize(p.replace(/\\/g, '/')).replace(/^(\.\/)+/, '').replace(/^\/+/, '');
    if (p === '' || p === '.') continue;
    ig.add(`${negate ? '!' : ''}/${p}`);
  }
  return (path, dir) => ig.ignores(dir ? `${path}/` : path);
}

function readDockerignore(root: string): string[] {
  try {
    return readFileSync(join(root, '.dockerignore'), 'utf8').split(/\r?\n/);
  } catch {
    return [];
  }
}

/** Lists what the context will hold, checking its bounds before anything is sent. */
export function listContext(opts: ContextOptions): ContextEntry[] {
  const maxEntries = opts.maxEntries ?? 200_000;
  const prefix = opts.prefix ? opts.prefix.replace(/\/+$/, '') : '';
  const entries: ContextEntry[] = [];
  let bytes = 0;
  const add = (e: ContextEntry): void => {
    bytes += e.size;
    entries.push(e);
    if (bytes > opts.maxBytes) throw new BerthError('SOURCE_TOO_LARGE', `The build context is larger than ${opts.maxBytes} bytes (at ${e.name}); leave build output and dependencies out with a .dockerignore`, { maxBytes: opts.maxBytes });
    if (entries.length > maxEntries) throw new BerthError('SOURCE_TOO_LARGE', `The build context has more than ${maxEntries} entries`, { maxEntries });
  };
  if (opts.root !== undefined) {
    const root = resolve(opts.root);
    const ignored = dockerignoreMatcher(['.git', ...(opts.ignore ?? []), ...readDockerignore(root)]);
    const name = (rel: string): string => (prefix ? `${prefix}/${rel}` : rel);
    if (prefix) add({ name: prefix, type: 'directory', size: 0, mode: 0o755 });
    const walk = (dir: string): void => {
      for (const d of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        const abs = join(dir, d.name);
        const rel = relative(root, abs).split(sep).join('/');
        const st = lstatSync(abs);
        if (ignored(rel, st.isDirectory())) continue;
        if (st.isDirectory()) {
          add({ name: name(rel), type: 'directory', size: 0, mode: 0o755 });
          walk(abs);
        } else if (st.isFile()) {
          add({ name: name(rel), type: 'file', size: st.size, mode: st.mode & 0o111 ? 0o755 : 0o644, source: abs });
        } else if (st.isSymbolicLink()) {
          const target = readlinkSync(abs);
          const to = resolve(dirname(abs), target);
          if (target.startsWith('/') || (to !== root && !to.startsWith(root + sep)))
            throw new BerthError('SOURCE_INVALID', `The source has a symbolic link that points outside it: ${rel} -> ${target}`, { entry: rel });
          add({ name: name(rel), type: 'symlink', size: 0, mode: 0o777, source: target });
        } else {
          throw new BerthError('SOURCE_INVALID', `The source has an entry that is neither a file, a folder nor a link: ${rel}`, { entry: rel });
        }
      }
    };
    walk(root);
  }
  const dirs = new Set(entries.filter((e) => e.type === 'directory').map((e) => e.name));
  for (const x of opts.extra ?? []) {
    // Folders of generated files (berth/) get their own entries, so the engine sees ordinary permissions.
    const parts = x.name.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        add({ name: d, type: 'directory', size: 0, mode: 0o755 });
      }
    }
    if (x.content !== undefined) {
      const content = Buffer.from(x.content);
      add({ name: x.name, type: 'file', size: content.length, mode: x.mode ?? 0o644, content });
    } else if (x.path !== undefined) {
      add({ name: x.name, type: 'file', size: lstatSync(x.path).size, mode: x.mode ?? 0o644, source: x.path });
    }
  }
  return entries;
}

/** Streams `entries` as a tar archive; a read error ends the stream with that error. */
export function packEntries(entries: ContextEntry[]): Readable {
  const pack = tarPack();
  void (async () => {
    for (const e of entries) {
      const header = { name: e.name, mode: e.mode, uid: 0, gid: 0, uname: 'root', gname: 'root', mtime: MTIME };
      if (e.type === 'directory') pack.entry({ ...header, type: 'directory' });
      else if (e.type === 'symlink') pack.entry({ ...header, type: 'symlink', linkname: e.source! });
      else if (e.content) pack.entry({ ...header, type: 'file', size: e.size }, e.content);
      else {
        const sink = pack.entry({ ...header, type: 'file', size: e.size });
        await pipeline(createReadStream(e.source!), sink);
      }
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err as Error));
  return pack as unknown as Readable;
}

/** Lists and streams a build context (see listContext for the bounds). */
export function buildContext(opts: ContextOptions): { stream: Readable; files: number; bytes: number } {
  const entries = listContext(opts);
  return { stream: packEntries(entries), files: entries.filter((e) => e.type === 'file').length, bytes: entries.reduce((n, e) => n + e.size, 0) };
}

/** Local `file:` dependencies of a package.json at `root` that lie inside the tree (copied before the install). */
export function localFileDependencies(root: string): string[] {
  let pkg: Record<string, unknown>;
  try {
    pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return [];
  }
  const out = new Set<string>();
  for (const field of ['dependencies', 'devDependencies', 'optionalDependencies']) {
    const deps = pkg[field];
    if (!deps || typeof deps !== 'object') continue;
    for (const spec of Object.values(deps as Record<string, unknown>)) {
      if (typeof spec !== 'string' || !spec.startsWith('file:')) continue;
      const rel = posix.normalize(spec.slice(5).replace(/\\/g, '/')).replace(/^(\.\/)+/, '').replace(/\/+$/, '');
      // Outside the tree, or missing: npm says so itself, in the install's log.
      if (rel === '' || rel === '.' || rel.startsWith('../') || rel.startsWith('/') || !existsSync(join(root, rel))) continue;
      out.add(rel);
    }
  }
  return [...out].sort();
}

/**
 * Local files a requirements.txt at `root` needs before `pip install -r` (vendored wheels and sdists, `-r`/`-c`
 * files, `--find-links` folders), inside the tree and present: copied with the manifests.
 */
export function localRequirementFiles(root: string, file = 'requirements.txt', seen = new Set<string>()): string[] {
  if (seen.has(file) || seen.size > 20) return [];
  seen.add(file);
  let text: string;
  try {
    text = readFileSync(join(root, file), 'utf8');
  } catch {
    return [];
  }
  const out = new Set<string>();
  const inside = (p: string): string | null => {
    const rel = posix.normalize(posix.join(posix.dirname(file), p.replace(/\\/g, '/').replace(/^file:(\/\/)?/, ''))).replace(/\/+$/, '');
    if (rel === '' || rel === '.' || rel.startsWith('../') || rel.startsWith('/') || !existsSync(join(root, rel))) return null;
    return rel;
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') continue;
    const opt = /^(-r|--requirement|-c|--constraint|-f|--find-links)(?:\s+|=)(\S+)$/.exec(line);
    if (opt) {
      const rel = inside(opt[2]!);
      if (!rel) continue;
      out.add(rel);
      if (!opt[1]!.includes('f')) for (const r of localRequirementFiles(root, rel, seen)) out.add(r);
      continue;
    }
    if (line.startsWith('-')) continue; // -e ., --index-url …: not a file to copy ahead
    // A requirement given as a path (./vendor/x.whl, file:pkg, vendor/x.tar.gz), possibly with markers after `;`.
    const spec = line.split(';')[0]!.trim();
    if (/^(\.{1,2}\/|file:)/.test(spec) || /\.(whl|tar\.gz|zip)$/.test(spec)) {
      const rel = inside(spec);
      if (rel) out.add(rel);
    }
  }
  return [...out].sort();
}
