/**
 * The source store (issue 12, "Sources"): uploaded ZIPs and folders (a git checkout's subdirectory) kept as
 * content-addressed, read-only trees under `<dataDir>/sources/trees/<hex>`. Every tree is made in `tmp/` first
 * (the upload spooled there, then unpacked by the hostile-ZIP extractor) and renamed into place once complete,
 * so a tree under `trees/` is always whole, and the same content (ZIP or folder) lands once under one digest.
 * Nothing is written outside `dir`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readdir, readFile, realpath, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError } from '../core/errors.js';
import { DEFAULT_ZIP_LIMITS, extractZip, type ZipLimits } from './zip/extract.js';

export interface StoredSource {
  /** `sha256:HEX` over the tree's files (see treeDigest). */
  digest: string;
  /** The read-only tree on disk. */
  root: string;
  files: number;
  bytes: number;
}

export interface SourceStore {
  /** Unpacks a (hostile) ZIP stream with the extractor's checks into a new tree; same content → same digest. */
  putZip(zip: NodeJS.ReadableStream, opts?: { maxBytes?: number }): Promise<StoredSource>;
  /**
   * Copies a folder already on disk (a git checkout's subdir) in: regular files and folders only; a symbolic link
   * is followed when it resolves inside the folder and refused (SOURCE_INVALID) otherwise; `.git` is skipped.
   */
  putTree(dir: string): Promise<StoredSource>;
  get(digest: string): Promise<StoredSource | null>;
  /** Every stored tree: its digest, size, and when it was last stored (uploading the same content again renews it). */
  list(): Promise<{ digest: string; bytes: number; storedAt: number }[]>;
  /** A deploy is about to use the tree: its time is renewed, so garbage collection leaves it while the deploy runs. */
  keep(digest: string): Promise<void>;
  /** Removes a stored tree (garbage collection: control/source-gc.ts decides what is unused). */
  remove(digest: string): Promise<void>;
}

export interface SourceStoreOptions {
  /** `<dataDir>/sources`. */
  dir: string;
  /** Largest upload and largest unpacked tree (BERTH_SOURCE_MAX_BYTES). */
  maxBytes: number;
  zipLimits?: Partial<ZipLimits>;
}

const DIGEST = /^sha256:([0-9a-f]{64})$/;
/** A temp entry older than this was left by a Berth that stopped mid-upload. */
const STALE_TMP_MS = 60 * 60 * 1000;

/** One file of a tree as the digest sees it. */
interface TreeFile {
  rel: string;
  exec: boolean;
  sha256: string;
  size: number;
}

/** Every regular file under `root` (relative paths with `/`), sorted; folders count only through their files. */
async function listFiles(root: string): Promise<TreeFile[]> {
  const out: TreeFile[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) await walk(abs);
      else if (e.isFile()) {
        const st = await stat(abs);
        out.push({ rel: path.relative(root, abs).split(path.sep).join('/'), exec: (st.mode & 0o111) !== 0, sha256: await hashFile(abs), size: st.size });
      }
    }
  };
  await walk(root);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h);
  return h.digest('hex');
}

/** The digest of a tree: sha256 over its sorted `path\tx|-\tsha256(content)` lines. */
export function treeDigest(files: readonly Pick<TreeFile, 'rel' | 'exec' | 'sha256'>[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.rel}\t${f.exec ? 'x' : '-'}\t${f.sha256}\n`);
  return `sha256:${h.digest('hex')}`;
}

/** Takes the write bits off every file (the tree is never changed once stored). */
async function makeReadOnly(root: string): Promise<void> {
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const abs = path.join(e.parentPath, e.name);
    const st = await stat(abs);
    await chmod(abs, st.mode & 0o555);
  }
}

export function createSourceStore(opts: SourceStoreOptions): SourceStore {
  if (!path.isAbsolute(opts.dir)) throw new Error(`source store: dir must be absolute, got ${JSON.stringify(opts.dir)}`);
  const trees = path.join(opts.dir, 'trees');
  const tmp = path.join(opts.dir, 'tmp');
  const limits: ZipLimits = { ...DEFAULT_ZIP_LIMITS, ...opts.zipLimits };
  limits.maxTotalBytes = Math.min(limits.maxTotalBytes, opts.maxBytes);
  limits.maxFileBytes = Math.min(limits.maxFileBytes, limits.maxTotalBytes);
  let swept = false;

  const scratch = async (): Promise<string> => {
    await mkdir(trees, { recursive: true, mode: 0o700 });
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    if (!swept) {
      swept = true;
      for (const name of await readdir(tmp)) {
        const p = path.join(tmp, name);
        const st = await lstat(p).catch(() => null);
        if (st && Date.now() - st.mtimeMs > STALE_TMP_MS) await rm(p, { recursive: true, force: true });
      }
    }
    const work = path.join(tmp, `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`);
    await mkdir(work, { mode: 0o700 });
    return work;
  };

  /** Moves a finished tree into place (or drops it when that content is stored already). */
  const commit = async (tree: string): Promise<StoredSource> => {
    const files = await listFiles(tree);
    const digest = treeDigest(files);
    const bytes = files.reduce((n, f) => n + f.size, 0);
    const hex = DIGEST.exec(digest)![1]!;
    const final = path.join(trees, hex);
    await makeReadOnly(tree);
    try {
      await rename(tree, final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      // Stored already (the same content uploaded twice): keep the first.
      await rm(tree, { recursive: true, force: true });
    }
    const meta = { files: files.length, bytes };
    await writeFile(`${final}.json`, JSON.stringify(meta)).catch(() => undefined);
    return { digest, root: final, ...meta };
  };

  return {
    async putZip(zip, putOpts = {}) {
      const max = Math.min(putOpts.maxBytes ?? opts.maxBytes, opts.maxBytes);
      const work = await scratch();
      try {
        const file = path.join(work, 'upload.zip');
        let seen = 0;
        const bound = new Transform({
          transform(chunk: Buffer, _enc, done) {
            seen += chunk.length;
            if (seen > max) return done(new BerthError('SOURCE_TOO_LARGE', `The upload is larger than ${max} bytes (BERTH_SOURCE_MAX_BYTES)`, { max }));
            done(null, chunk);
          },
        });
        await pipeline(zip, bound, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
        if (seen === 0) throw new BerthError('ZIP_INVALID', 'The upload is empty: send a ZIP archive');
        const tree = path.join(work, 'tree');
        await mkdir(tree, { mode: 0o700 });
        const out = await extractZip(file, tree, limits);
        if (out.files === 0) throw new BerthError('ZIP_INVALID', 'The ZIP archive holds no files');
        return await commit(tree);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },

    async putTree(dir) {
      const src = await realpath(dir).catch(() => {
        throw new BerthError('SOURCE_NOT_FOUND', `No folder at ${dir}`);
      });
      if (!(await stat(src)).isDirectory()) throw new BerthError('SOURCE_INVALID', `${dir} is not a folder`);
      const work = await scratch();
      try {
        const tree = path.join(work, 'tree');
        await mkdir(tree, { mode: 0o700 });
        await copyTree(src, tree, limits);
        return await commit(tree);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },

    async get(digest) {
      const m = DIGEST.exec(digest);
      if (!m) return null;
      const root = path.join(trees, m[1]!);
      const st = await stat(root).catch(() => null);
      if (!st?.isDirectory()) return null;
      const meta = await readFile(`${root}.json`, 'utf8')
        .then((t) => JSON.parse(t) as { files: number; bytes: number })
        .catch(async () => {
          const files = await listFiles(root);
          return { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) };
        });
      return { digest, root, files: meta.files, bytes: meta.bytes };
    },

    async list() {
      const names = await readdir(trees).catch(() => [] as string[]);
      const out: { digest: string; bytes: number; storedAt: number }[] = [];
      for (const name of names) {
        if (!/^[0-9a-f]{64}$/.test(name)) continue;
        const root = path.join(trees, name);
        // The meta file is written at every store of the content: its time is the tree's last use by an upload.
        const meta = await stat(`${root}.json`).catch(() => null);
        const st = meta ?? (await stat(root).catch(() => null));
        if (!st) continue;
        const bytes = await readFile(`${root}.json`, 'utf8')
          .then((t) => (JSON.parse(t) as { bytes: number }).bytes)
          .catch(() => 0);
        out.push({ digest: `sha256:${name}`, bytes, storedAt: st.mtimeMs });
      }
      return out;
    },

    async keep(digest) {
      const m = DIGEST.exec(digest);
      if (!m) return;
      const now = new Date();
      await utimes(path.join(trees, `${m[1]!}.json`), now, now).catch(() => undefined);
    },

    async remove(digest) {
      const m = DIGEST.exec(digest);
      if (!m) return;
      const root = path.join(trees, m[1]!);
      // Out of trees/ in one step first, so no reader finds a half-removed tree.
      const gone = path.join(tmp, `gc-${m[1]!}-${randomBytes(4).toString('hex')}`);
      await mkdir(tmp, { recursive: true, mode: 0o700 });
      try {
        await rename(root, gone);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      await rm(`${root}.json`, { force: true });
      await rm(gone, { recursive: true, force: true });
    },
  };
}

/** Copies `src` (a real path) into `dest`: files and folders, links only when they resolve inside `src`; `.git` skipped. */
async function copyTree(src: string, dest: string, limits: ZipLimits): Promise<void> {
  let entries = 0;
  let bytes = 0;
  const seenDirs = new Set<string>();
  const refuse = (rel: string, why: string): BerthError => new BerthError('SOURCE_INVALID', `${JSON.stringify(rel)}: ${why}`, { entry: rel });
  const walk = async (from: string, to: string): Promise<void> => {
    const real = await realpath(from);
    if (seenDirs.has(real)) throw refuse(path.relative(src, from), 'a folder link loops back into the tree');
    seenDirs.add(real);
    for (const e of await readdir(from, { withFileTypes: true })) {
      if (e.name === '.git') continue;
      const abs = path.join(from, e.name);
      const rel = path.relative(src, abs);
      let target = abs;
      let st = await lstat(abs);
      if (st.isSymbolicLink()) {
        target = await realpath(abs).catch(() => {
          throw refuse(rel, 'a symbolic link that points nowhere');
        });
        const inside = path.relative(src, target);
        if (inside.startsWith('..') || path.isAbsolute(inside)) throw refuse(rel, 'a symbolic link that leaves the folder');
        st = await stat(target);
      }
      if (++entries > limits.maxEntries) throw new BerthError('SOURCE_TOO_LARGE', `The folder has more than ${limits.maxEntries} entries`, { max: limits.maxEntries });
      const out = path.join(to, e.name);
      if (st.isDirectory()) {
        await mkdir(out, { mode: 0o755 });
        await walk(target, out);
      } else if (st.isFile()) {
        if (st.size > limits.maxFileBytes) throw new BerthError('SOURCE_TOO_LARGE', `${JSON.stringify(rel)} is ${st.size} bytes; at most ${limits.maxFileBytes} per file`, { entry: rel });
        bytes += st.size;
        if (bytes > limits.maxTotalBytes) throw new BerthError('SOURCE_TOO_LARGE', `The folder holds more than ${limits.maxTotalBytes} bytes (BERTH_SOURCE_MAX_BYTES)`, { max: limits.maxTotalBytes });
        await copyFile(target, out, constants.COPYFILE_EXCL);
        await chmod(out, (st.mode & 0o111) !== 0 ? 0o755 : 0o644);
      } else throw refuse(rel, 'only files and folders are allowed');
    }
  };
  await walk(src, dest);
}
