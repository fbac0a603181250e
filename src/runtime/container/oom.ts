/**
 * Which containers the kernel's OOM killer hit. Podman 4.3 on cgroup v1 does not set State.OOMKilled (checked
 * here: a container killed at its 64 MiB limit exits 137 with OOMKilled false), but the kernel logs every
 * memory-cgroup kill with the cgroup it happened in:
 *   oom-kill:constraint=CONSTRAINT_MEMCG,…,oom_memcg=/libpod_parent/libpod-<CONTAINER ID>,…,task=node,pid=24029,uid=0
 * This reads new records from /dev/kmsg (root only; absent or unreadable: no kernel signal, the caller falls back
 * to State.OOMKilled and exit 137). Bounded: at most `maxRecords` records per scan, each at most 8 KiB.
 */
import { closeSync, constants, openSync, readSync } from 'node:fs';

export interface OomKill {
  /** The container id found in the cgroup path (64 hex). */
  containerId: string;
  pid: number | null;
  task: string | null;
  /** Kernel record sequence number. */
  seq: number;
}

const MEMCG = /oom-kill:.*?oom_memcg=([^,\s]*)/;
const CONTAINER_ID = /([0-9a-f]{64})/;

/** Parses one /dev/kmsg record (`PRI,SEQ,TS,FLAGS;MESSAGE`) into an OOM kill, or null. */
export function parseKmsgRecord(record: string): OomKill | null {
  const semi = record.indexOf(';');
  if (semi < 0) return null;
  const head = record.slice(0, semi).split(',');
  const msg = record.slice(semi + 1);
  const m = MEMCG.exec(msg);
  if (!m) return null;
  const id = CONTAINER_ID.exec(m[1]!);
  if (!id) return null;
  const pid = /[,\s]pid=(\d+)/.exec(msg);
  const task = /[,\s]task=([^,\s]+)/.exec(msg);
  return { containerId: id[1]!, pid: pid ? Number(pid[1]) : null, task: task ? task[1]! : null, seq: Number(head[1] ?? -1) };
}

export class KernelOomLog {
  private fd: number | null = null;
  private unavailable = false;
  private lastSeq = -1;
  private primed = false;

  constructor(private readonly opts: { path?: string; maxRecords?: number } = {}) {}

  /** True when the kernel log can be read here. */
  get available(): boolean {
    return !this.unavailable;
  }

  /**
   * OOM kills logged since the previous scan (the first scan only notes where the log is: kills from before this
   * Berth looked are not news, except when `includeOld`).
   */
  scan(includeOld = false): OomKill[] {
    if (this.unavailable) return [];
    if (this.fd === null) {
      try {
        this.fd = openSync(this.opts.path ?? '/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
      } catch {
        this.unavailable = true;
        return [];
      }
    }
    const out: OomKill[] = [];
    const buf = Buffer.alloc(8192);
    const max = this.opts.maxRecords ?? 20_000;
    for (let i = 0; i < max; i++) {
      let n: number;
      try {
        n = readSync(this.fd, buf, 0, buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue; // records were overwritten before we read them: go on with the next
        if (code !== 'EAGAIN') this.close();
        break;
      }
      if (n <= 0) break;
      const record = buf.toString('utf8', 0, n);
      const seq = Number(record.slice(0, record.indexOf(';')).split(',')[1] ?? -1);
      if (seq <= this.lastSeq) continue;
      this.lastSeq = seq;
      if (!this.primed && !includeOld) continue;
      const kill = parseKmsgRecord(record);
      if (kill) out.push(kill);
    }
    this.primed = true;
    return out;
  }

  close(): void {
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        /* closed already */
      }
    }
    this.fd = null;
  }
}
