/**
 * Unpacking an uploaded ZIP into a workspace, treating the archive as hostile (issue 12, "Sources"):
 * yauzl reads the central directory and checks names and declared sizes; Berth adds the caps (entries,
 * bytes per file and in all, compression ratio), refuses links and special files, and checks every write
 * against the workspace's real path. Sizes are counted as bytes actually written, since entries that
 * overlap or lie about their sizes are how zip bombs get past declared-size checks.
 */
import { constants } from 'node:fs';
import { mkdir, open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type yauzl from 'yauzl';
import { BerthError, type ErrorCode } from '../../core/errors.js';

export interface ZipLimits {
  /** Most entries (files and folders). */
  maxEntries: number;
  /** Largest single file, unpacked. */
  maxFileBytes: number;
  /** Most bytes unpacked in all. */
  maxTotalBytes: number;
  /** Largest unpacked / compressed size of one entry. */
  maxRatio: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = { maxEntries: 10_000, maxFileBytes: 64 * 1024 * 1024, maxTotalBytes: 256 * 1024 * 1024, maxRatio: 200 };

export interface ExtractResult {
  files: number;
  folders: number;
  bytes: number;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

function refuse(code: ErrorCode, entry: string, detail: string): BerthError {
  return new BerthError(code, `ZIP entry ${JSON.stringify(entry)}: ${detail}`, { entry });
}

/** Where `name` lands under `root`, or a refusal: no absolute paths, drive letters or `..` segments. */
export function entryPath(root: string, name: string): string {
  if (name.includes('\0')) throw refuse('ZIP_INVALID', name, 'the name holds a NUL byte');
  const unix = name.replace(/\\/g, '/');
  if (unix.startsWith('/') || /^[A-Za-z]:/.test(unix)) throw refuse('ZIP_ABSOLUTE_PATH', name, 'absolute paths are refused');
  if (unix.split('/').some((part) => part === '..')) throw refuse('ZIP_PATH_TRAVERSAL', name, 'paths with .. are refused');
  const target = path.resolve(root, unix);
  const rel = path.relative(root, target);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw refuse('ZIP_PATH_TRAVERSAL', name, 'the path leaves the workspace');
  return target;
}

/** An entry's name: UTF-8 when its flag says so (bit 11), else read byte for byte (CP437 and Latin-1 agree on ASCII). */
function nameOf(entry: yauzl.Entry): string {
  const raw = entry.fileName as unknown as Buffer;
  return raw.toString((entry.generalPurposeBitFlag & 0x800) !== 0 ? 'utf8' : 'latin1');
}

/** The kind of an entry, from its name and its Unix mode (the high 16 bits of the external attributes). */
function kindOf(entry: yauzl.Entry, name: string): 'file' | 'folder' | 'symlink' | 'special' {
  const mode = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (mode === S_IFLNK) return 'symlink';
  if (name.endsWith('/') || name.endsWith('\\')) return mode === 0 || mode === S_IFDIR ? 'folder' : 'special';
  if (mode === 0 || mode === S_IFREG) return 'file';
  if (mode === S_IFDIR) return 'folder';
  return 'special';
}

async function openZip(file: string): Promise<yauzl.ZipFile> {
  // Loaded with the first upload, not with Berth.
  const { default: yauzl } = await import('yauzl');
  return new Promise((resolve, reject) => {
    // decodeStrings off: yauzl then leaves names to Berth, which checks them and answers with its own codes.
    yauzl.open(file, { lazyEntries: true, autoClose: true, validateEntrySizes: true, decodeStrings: false }, (err, zip) => {
      if (err || !zip) reject(new BerthError('ZIP_INVALID', `Not a readable ZIP archive: ${err?.message ?? 'unknown error'}`));
      else resolve(zip);
    });
  });
}

function openEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) => zip.openReadStream(entry, (err, stream) => (err || !stream ? reject(err ?? new Error('no stream')) : resolve(stream))));
}

/**
 * Unpacks `zipFile` into `dest` (an existing, empty folder). Throws a BerthError with a ZIP_* code naming the
 * entry at the first refusal; what was unpacked until then stays in `dest` for the caller to remove.
 */
export async function extractZip(zipFile: string, dest: string, limits: ZipLimits = DEFAULT_ZIP_LIMITS): Promise<ExtractResult> {
  const root = await realpath(dest);
  const zip = await openZip(zipFile);
  if (zip.entryCount > limits.maxEntries) {
    zip.close();
    throw new BerthError('ZIP_TOO_MANY_ENTRIES', `The ZIP archive has ${zip.entryCount} entries; at most ${limits.maxEntries} are allowed`, { entries: zip.entryCount, max: limits.maxEntries });
  }
  const out: ExtractResult = { files: 0, folders: 0, bytes: 0 };
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: unknown): void => {
        zip.close();
        reject(err);
      };
      zip.on('error', (err: Error) => fail(new BerthError('ZIP_INVALID', `Not a readable ZIP archive: ${err.message}`)));
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        unpack(zip, entry, root, limits, out).then(() => zip.readEntry(), fail);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  return out;
}

async function unpack(zip: yauzl.ZipFile, entry: yauzl.Entry, root: string, limits: ZipLimits, out: ExtractResult): Promise<void> {
  const name = nameOf(entry);
  const target = entryPath(root, name);
  const kind = kindOf(entry, name);
  if (kind === 'symlink') throw refuse('ZIP_SYMLINK', name, 'symbolic links are refused');
  if (kind === 'special') throw refuse('ZIP_SPECIAL_ENTRY', name, 'only files and folders are allowed');
  await mkdirInside(root, kind === 'folder' ? target : path.dirname(target), name);
  if (kind === 'folder') {
    out.folders += 1;
    return;
  }
  if (entry.uncompressedSize > limits.maxFileBytes) throw refuse('ZIP_FILE_TOO_LARGE', name, `${entry.uncompressedSize} bytes; at most ${limits.maxFileBytes} per file`);
  if (out.bytes + entry.uncompressedSize > limits.maxTotalBytes) throw refuse('ZIP_TOO_LARGE', name, `unpacking it would pass ${limits.maxTotalBytes} bytes in all`);
  const compressed = Math.max(1, entry.compressedSize);
  if (entry.uncompressedSize / compressed > limits.maxRatio) throw refuse('ZIP_RATIO_TOO_HIGH', name, `compressed ${Math.round(entry.uncompressedSize / compressed)}:1; at most ${limits.maxRatio}:1`);
  // O_EXCL: a second entry with the same path is refused; O_NOFOLLOW: nothing planted can redirect the write.
  // The executable bit is kept (a bin script); no other mode bit is taken from the archive.
  const exec = ((entry.externalFileAttributes >>> 16) & 0o111) !== 0;
  let handle;
  try {
    handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, exec ? 0o755 : 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw refuse('ZIP_DUPLICATE_ENTRY', name, 'another entry already wrote this path');
    throw err;
  }
  let written = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      written += chunk.length;
      if (written > limits.maxFileBytes) return done(refuse('ZIP_FILE_TOO_LARGE', name, `more than ${limits.maxFileBytes} bytes unpacked`));
      if (out.bytes + written > limits.maxTotalBytes) return done(refuse('ZIP_TOO_LARGE', name, `more than ${limits.maxTotalBytes} bytes unpacked in all`));
      if (written / compressed > limits.maxRatio) return done(refuse('ZIP_RATIO_TOO_HIGH', name, `unpacks to more than ${limits.maxRatio} times its compressed size`));
      done(null, chunk);
    },
  });
  try {
    const stream = await openEntry(zip, entry);
    await pipeline(stream, counter, handle.createWriteStream());
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw refuse('ZIP_INVALID', name, `cannot be read: ${(err as Error).message}`);
  } finally {
    await handle.close().catch(() => undefined);
  }
  out.files += 1;
  out.bytes += written;
}

/** mkdir -p, then a check that the folder's real path is still inside the workspace (no planted link on the way). */
async function mkdirInside(root: string, dir: string, entry: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const real = await realpath(dir);
  const rel = path.relative(root, real);
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw refuse('ZIP_PATH_TRAVERSAL', entry, 'its folder resolves outside the workspace');
}
