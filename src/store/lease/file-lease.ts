import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { LostSignal, thisProcess, type Lease, type LeaseHolder } from './types.js';

export interface FileLeaseOptions {
  /** The lock file, beside the database (`berth.db.lock`). */
  path: string;
  /** A lock file whose heartbeat (mtime) is older than this is stale, whoever wrote it. */
  staleMs: number;
  /** How often the holder refreshes the heartbeat and checks the file is still its own (default staleMs / 3). */
  heartbeatMs?: number;
  /** Who this process is (default: its pid and hostname). */
  self?: Omit<LeaseHolder, 'started_at'>;
}

/** What the lock file holds: one JSON object, written once at creation. */
interface LockRecord {
  token: string;
  pid: number;
  host: string;
  /** The holder's process start time (/proc/PID/stat field 22), to tell a reused pid from the holder. */
  proc_start: string | null;
  started_at: string;
}

interface Seen {
  record: LockRecord | null;
  ino: number;
  ageMs: number;
}

/**
 * A lease as a lock file beside the SQLite database. Node has no flock, so:
 * - taking it is an exclusive create (`wx`): of several Berths trying at once, one creates the file;
 * - it names its holder (pid, host, process start time, a random token) and the holder touches its
 *   mtime every heartbeat, checking the token is still its own (a file removed or replaced = lost);
 * - a file is stale when its holder is on this host and dead (or its pid now belongs to another process),
 *   or when its heartbeat is older than `staleMs` (a holder on another host, or one that hangs);
 * - a stale file is moved aside by rename (atomic) and checked to be the one judged stale before it is
 *   deleted, so two Berths breaking the same stale file cannot delete a fresh one;
 * - `release` deletes it, when it is still this holder's.
 * It does not protect two hosts sharing the file over NFS or another network file system beyond the
 * heartbeat (clock skew and attribute caching can let both believe they hold it); SQLite itself is not
 * safe there either.
 */
export class FileLease implements Lease {
  readonly #path: string;
  readonly #staleMs: number;
  readonly #heartbeatMs: number;
  readonly #self: Omit<LeaseHolder, 'started_at'>;
  readonly #lost = new LostSignal();
  #mine: LockRecord | null = null;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: FileLeaseOptions) {
    if (!(opts.staleMs > 0)) throw new RangeError('FileLease: staleMs must be positive');
    this.#path = opts.path;
    this.#staleMs = opts.staleMs;
    this.#heartbeatMs = opts.heartbeatMs ?? Math.max(1, Math.floor(opts.staleMs / 3));
    this.#self = opts.self ?? thisProcess();
  }

  get held(): boolean {
    return this.#mine !== null;
  }

  async acquire(): Promise<boolean> {
    if (this.#mine) return this.#check();
    // Two rounds: the second after moving a stale file aside.
    for (let round = 0; round < 2; round++) {
      if (this.#create()) return true;
      const seen = this.#read();
      if (seen === null) continue; // released meanwhile: try again
      if (!this.#isStale(seen)) return false;
      this.#breakStale(seen);
    }
    return false;
  }

  async release(): Promise<void> {
    const mine = this.#mine;
    if (!mine) return;
    this.#stopHeartbeat();
    this.#mine = null;
    if (this.#read()?.record?.token === mine.token) unlinkQuietly(this.#path);
  }

  async holder(): Promise<LeaseHolder | null> {
    const r = this.#mine ?? this.#read()?.record;
    return r ? { pid: r.pid, host: r.host, started_at: r.started_at } : null;
  }

  onLost(listener: (reason: string) => void): () => void {
    return this.#lost.subscribe(listener);
  }

  /** Exclusive create; true when this process now holds the file. */
  #create(): boolean {
    const record: LockRecord = { token: randomBytes(12).toString('hex'), ...this.#self, proc_start: procStart(this.#self.pid), started_at: new Date().toISOString() };
    let fd: number;
    try {
      fd = openSync(this.#path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    try {
      writeSync(fd, `${JSON.stringify(record)}\n`);
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      unlinkQuietly(this.#path);
      throw err;
    }
    closeSync(fd);
    this.#mine = record;
    this.#startHeartbeat();
    return true;
  }

  /** The lock file as it is now; null when there is none. An unreadable record (a holder mid-write) is `record: null`. */
  #read(path = this.#path): Seen | null {
    try {
      const st = statSync(path);
      const text = readFileSync(path, 'utf8');
      return { record: parseRecord(text), ino: st.ino, ageMs: Date.now() - st.mtimeMs };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  #isStale(seen: Seen): boolean {
    if (seen.ageMs > this.#staleMs) return true;
    const r = seen.record;
    if (r === null || r.host !== this.#self.host) return false;
    if (!pidAlive(r.pid)) return true;
    // The pid lives, but as another process (pids are reused): the holder is gone.
    const start = procStart(r.pid);
    return r.proc_start !== null && start !== null && start !== r.proc_start;
  }

  /** Moves the stale file aside, then deletes it, or puts it back if what was moved is not what was judged stale. */
  #breakStale(seen: Seen): void {
    const aside = `${this.#path}.${randomBytes(6).toString('hex')}.stale`;
    try {
      renameSync(this.#path, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else broke it
      throw err;
    }
    const moved = this.#read(aside);
    if (moved !== null && moved.ino !== seen.ino) {
      // A fresh lock taken meanwhile: restore it unless yet another has appeared (then its holder sees the loss).
      try {
        linkSync(aside, this.#path);
      } catch {
        /* EEXIST: leave it */
      }
    }
    unlinkQuietly(aside);
  }

  /** Still ours? Loses the lease (and says so) when the file is gone or names another holder. */
  #check(): boolean {
    const mine = this.#mine;
    if (!mine) return false;
    let seen: Seen | null;
    try {
      seen = this.#read();
    } catch (err) {
      return this.#lose(`cannot read the lock file ${this.#path}: ${String(err)}`);
    }
    if (seen?.record?.token !== mine.token) {
      return this.#lose(seen === null ? `the lock file ${this.#path} was removed` : `the lock file ${this.#path} was taken over${seen.record ? ` by pid ${seen.record.pid} on ${seen.record.host}` : ''}`);
    }
    try {
      const now = new Date();
      utimesSync(this.#path, now, now);
    } catch (err) {
      return this.#lose(`cannot refresh the lock file ${this.#path}: ${String(err)}`);
    }
    return true;
  }

  #lose(reason: string): false {
    this.#stopHeartbeat();
    this.#mine = null;
    this.#lost.fire(reason);
    return false;
  }

  #startHeartbeat(): void {
    this.#timer = setInterval(() => void this.#check(), this.#heartbeatMs);
    this.#timer.unref();
  }

  #stopHeartbeat(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

function parseRecord(text: string): LockRecord | null {
  try {
    const r = JSON.parse(text) as Partial<LockRecord> | null;
    if (!r || typeof r.token !== 'string' || !Number.isSafeInteger(r.pid) || typeof r.host !== 'string' || typeof r.started_at !== 'string') return null;
    return { token: r.token, pid: r.pid!, host: r.host, proc_start: typeof r.proc_start === 'string' ? r.proc_start : null, started_at: r.started_at };
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** A process's start time in clock ticks since boot (Linux); null where /proc has no answer. */
function procStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null; // field 22
  } catch {
    return null;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* gone already */
  }
}
