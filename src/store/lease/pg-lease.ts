import { createHash } from 'node:crypto';
import pg from 'pg';
import { LostSignal, thisProcess, type Lease, type LeaseHolder } from './types.js';

export interface PgLeaseOptions {
  /** The store's database (`postgres://…`); the lease takes its own connection, outside the query pool. */
  url: string;
  /** How often the held lease's connection is checked (a query with this timeout); a failed check = lost. */
  checkMs: number;
  self?: Omit<LeaseHolder, 'started_at'>;
}

/** The first key of the lock: Berth's namespace ("Bert"), so other applications' advisory locks do not collide. */
const NAMESPACE = 0x42657274;
/** application_name of the lease connection: `berth-lease:PID:STARTED_MS:HOST` (cut at PostgreSQL's 63 bytes). */
const APP_PREFIX = 'berth-lease:';

/**
 * A lease as a session-level PostgreSQL advisory lock (`pg_try_advisory_lock(NAMESPACE, key)`, the key
 * derived from the database name) on a dedicated connection kept open while held. PostgreSQL releases the
 * lock when that connection ends, so a Berth that dies loses the lease at once; the holder learns of a lost
 * connection from the client's error/end events and from a periodic check, and must stop reconciling.
 * Who holds it is written in the connection's application_name, which a standby reads through pg_locks.
 */
export class PgLease implements Lease {
  readonly #url: string;
  readonly #checkMs: number;
  readonly #self: Omit<LeaseHolder, 'started_at'>;
  readonly #lost = new LostSignal();
  #client: pg.Client | null = null;
  #key: number | null = null;
  #held = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: PgLeaseOptions) {
    if (!(opts.checkMs > 0)) throw new RangeError('PgLease: checkMs must be positive');
    this.#url = opts.url;
    this.#checkMs = opts.checkMs;
    this.#self = opts.self ?? thisProcess();
  }

  get held(): boolean {
    return this.#held;
  }

  async acquire(): Promise<boolean> {
    if (this.#held) return true;
    const { client, key } = await this.#connect();
    const started = Date.now();
    // Name the holder before taking the lock: a standby that sees the lock also sees who has it.
    await client.query('select set_config($1, $2, false)', ['application_name', appName(this.#self, started)]);
    const got = (await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, $2) as ok', [NAMESPACE, key])).rows[0]?.ok === true;
    if (!got) return false;
    this.#held = true;
    this.#timer = setInterval(() => void this.#check(), this.#checkMs);
    this.#timer.unref();
    return true;
  }

  async release(): Promise<void> {
    const client = this.#client;
    this.#stop();
    this.#client = null;
    // Ending the session releases its advisory locks.
    await client?.end().catch(() => undefined);
  }

  async holder(): Promise<LeaseHolder | null> {
    const { client, key } = await this.#connect();
    const rows = await client.query<{ application_name: string | null }>(
      `select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where l.locktype = 'advisory' and l.granted and l.objsubid = 2 and l.classid = $1::bigint::oid and l.objid = $2::bigint::oid
          and l.database = (select oid from pg_database where datname = current_database())`,
      [NAMESPACE, key],
    );
    const name = rows.rows[0]?.application_name;
    return name === undefined ? null : parseAppName(name ?? '');
  }

  onLost(listener: (reason: string) => void): () => void {
    return this.#lost.subscribe(listener);
  }

  /** The dedicated connection (made on first use and again after a loss) and this database's lock key. */
  async #connect(): Promise<{ client: pg.Client; key: number }> {
    if (this.#client && this.#key !== null) return { client: this.#client, key: this.#key };
    const client = new pg.Client({ connectionString: this.#url, keepAlive: true, connectionTimeoutMillis: 10_000, query_timeout: this.#checkMs * 2 });
    const dropped = (why: string): void => {
      if (this.#client !== client) return;
      this.#client = null;
      if (this.#held) this.#lose(why);
    };
    client.on('error', (err) => dropped(`the lease connection to PostgreSQL failed: ${err.message}`));
    client.on('end', () => dropped('the lease connection to PostgreSQL ended'));
    await client.connect();
    try {
      const db = (await client.query<{ name: string }>('select current_database() as name')).rows[0]?.name ?? '';
      this.#key = lockKey(db);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.#client = client;
    return { client, key: this.#key };
  }

  async #check(): Promise<void> {
    const client = this.#client;
    if (!this.#held || !client) return;
    try {
      await client.query('select 1');
    } catch (err) {
      if (this.#client !== client || !this.#held) return;
      this.#client = null;
      this.#lose(`the lease connection to PostgreSQL stopped answering: ${(err as Error).message}`);
      await client.end().catch(() => undefined);
    }
  }

  #lose(reason: string): void {
    this.#stop();
    this.#lost.fire(reason);
  }

  #stop(): void {
    this.#held = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** The second lock key: from Berth's lease name and the database, as a positive int4. */
export function lockKey(database: string): number {
  return createHash('sha256').update(`berth/reconciler-lease/${database}`).digest().readUInt32BE(0) & 0x7fffffff;
}

function appName(self: Omit<LeaseHolder, 'started_at'>, startedMs: number): string {
  return Buffer.from(`${APP_PREFIX}${self.pid}:${startedMs}:${self.host}`).subarray(0, 63).toString('utf8').replace(/\uFFFD$/, '');
}

function parseAppName(name: string): LeaseHolder | null {
  const m = /^berth-lease:(\d+):(\d+):(.*)$/.exec(name);
  if (!m) return null;
  return { pid: Number(m[1]), host: m[3]!, started_at: new Date(Number(m[2])).toISOString() };
}
