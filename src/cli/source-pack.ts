/**
 * `berth deploy ./folder`: the folder packed into a ZIP the CLI uploads (yazl), honouring `.gitignore` and
 * `.berthignore` at its top (the `ignore` package, gitignore rules), always without `.git`, `node_modules` and
 * Python venvs and caches (the workspace installs dependencies afresh). Symbolic links are followed when they stay
 * inside the folder and refused when they leave it; the unpacked size is bounded.
 */
import { createWriteStream } from 'node:fs';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import ignore from 'ignore';
import yazl from 'yazl';

/** Never packed, wherever they are. */
const ALWAYS_SKIPPED = new Set(['.git', 'node_modules', '.venv', 'venv', '__pycache__', '.DS_Store']);

export interface PackResult {
  files: number;
  /** Unpacked bytes. */
  bytes: number;
  /** The ZIP's size. */
  zipBytes: number;
}

export interface PackOptions {
  /** Most unpacked bytes (default 256 MiB, Berth's default BERTH_SOURCE_MAX_BYTES). */
  maxBytes?: number;
  maxFiles?: number;
  /** Called as files are added (count, bytes so far). */
  onProgress?: (files: number, bytes: number) => void;
}

export class PackError extends Error {}

/** The files `packFolder` would pack, relative with `/`, sorted: what `.gitignore`/`.berthignore` leave. */
export async function listFolder(dir: string, opts: PackOptions = {}): Promise<{ rel: string; abs: string; size: number; mode: number }[]> {
  const root = await realpath(dir).catch(() => {
    throw new PackError(`No folder at ${dir}`);
  });
  if (!(await stat(root)).isDirectory()) throw new PackError(`${dir} is not a folder`);
  const rules = ignore();
  for (const f of ['.gitignore', '.berthignore']) {
    const text = await readFile(path.join(root, f), 'utf8').catch(() => null);
    if (text !== null) rules.add(text);
  }
  const max = opts.maxBytes ?? 256 * 1024 * 1024;
  const maxFiles = opts.maxFiles ?? 10_000;
  const out: { rel: string; abs: string; size: number; mode: number }[] = [];
  let bytes = 0;
  const seen = new Set<string>();
  const walk = async (abs: string, rel: string): Promise<void> => {
    const real = await realpath(abs);
    if (seen.has(real)) throw new PackError(`${rel || '.'}: a folder link loops back into the folder`);
    seen.add(real);
    const entries = await readdir(abs, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (ALWAYS_SKIPPED.has(e.name)) continue;
      const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
      const childAbs = path.join(abs, e.name);
      let st = await lstat(childAbs);
      let target = childAbs;
      if (st.isSymbolicLink()) {
        target = await realpath(childAbs).catch(() => {
          throw new PackError(`${childRel}: a symbolic link that points nowhere`);
        });
        const inside = path.relative(root, target);
        if (inside.startsWith('..') || path.isAbsolute(inside)) throw new PackError(`${childRel}: a symbolic link that leaves the folder (to ${target}); copy what it points to into the folder, or add it to .berthignore`);
        st = await stat(target);
      }
      if (st.isDirectory()) {
        if (rules.ignores(`${childRel}/`)) continue;
        await walk(target, childRel);
      } else if (st.isFile()) {
        if (rules.ignores(childRel)) continue;
        bytes += st.size;
        if (bytes > max) throw new PackError(`The folder holds more than ${max} bytes to upload; leave build output and data out with .berthignore`);
        if (out.length + 1 > maxFiles) throw new PackError(`The folder holds more than ${maxFiles} files; leave some out with .berthignore`);
        out.push({ rel: childRel, abs: target, size: st.size, mode: st.mode });
      }
      // Sockets, pipes and devices are not source: left out.
    }
  };
  await walk(root, '');
  return out;
}

/** Packs `dir` into the ZIP file `zipFile`. */
export async function packFolder(dir: string, zipFile: string, opts: PackOptions = {}): Promise<PackResult> {
  const files = await listFolder(dir, opts);
  if (files.length === 0) throw new PackError(`Nothing to upload in ${dir} (empty, or everything is ignored)`);
  const zip = new yazl.ZipFile();
  const written = pipeline(zip.outputStream, createWriteStream(zipFile, { mode: 0o600 }));
  let bytes = 0;
  files.forEach((f, i) => {
    // The executable bit is kept (a bin script); nothing else of the mode.
    zip.addFile(f.abs, f.rel, { mode: (f.mode & 0o111) !== 0 ? 0o100755 : 0o100644 });
    bytes += f.size;
    if (opts.onProgress && (i % 200 === 199 || i === files.length - 1)) opts.onProgress(i + 1, bytes);
  });
  zip.end();
  await written;
  return { files: files.length, bytes, zipBytes: (await stat(zipFile)).size };
}
