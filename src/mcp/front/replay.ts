/**
 * The replay log of one Streamable HTTP session (revision 2025-11-25, "Resumability and Redelivery").
 *
 * Every message Berth sends on a session's SSE streams gets an event id `S:N`: stream S, its N-th
 * message. Stream 0 is the session's GET stream (one logical stream, whichever GET connection carries
 * it); each POST whose answer became an event stream gets the next number. The messages stay here,
 * within a count and a size cap, so that a client that lost a stream can come back with
 * `GET` + `Last-Event-ID` and get what followed on that stream, and only on that stream.
 *
 * The same log holds what the GET stream could not deliver yet (no GET connection open): those are
 * the stream's messages after its `delivered` cursor. When the cap is reached, messages already
 * written to a connection go first (oldest first), then undelivered ones (oldest first); so within
 * one stream drops always take its oldest messages, and `evicted` (the newest dropped seq) says
 * exactly which part of the stream is gone. A lone undelivered message is kept whatever its size,
 * so it can still be delivered.
 */

/** The GET stream's number; POST streams count up from 1. */
export const GET_STREAM = 0;

export interface ReplayLimits {
  /** Most messages kept per session (all its streams together). */
  maxEvents: number;
  /** Most characters of message JSON kept per session (about bytes: JSON is mostly ASCII). */
  maxBytes: number;
}

/** Small on purpose: a session that keeps a GET stream open holds at most this much for replay. */
export const DEFAULT_REPLAY_LIMITS: ReplayLimits = { maxEvents: 128, maxBytes: 64 * 1024 };

/** Checks caps given by configuration; throws on anything but positive integers. */
export function replayLimits(over: Partial<ReplayLimits> = {}): ReplayLimits {
  const limits = { ...DEFAULT_REPLAY_LIMITS, ...over };
  for (const [k, v] of Object.entries(limits)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new Error(`replay.${k} must be a positive integer, got ${String(v)}`);
  }
  return limits;
}

export interface EventPosition {
  stream: number;
  seq: number;
}

export function eventId(stream: number, seq: number): string {
  return `${stream}:${seq}`;
}

const ID_FORMAT = /^(\d{1,9}):(\d{1,15})$/;

/** The stream and position a `Last-Event-ID` names; null when it is not one of ours. */
export function parseEventId(id: string): EventPosition | null {
  const m = ID_FORMAT.exec(id);
  if (!m) return null;
  const stream = Number(m[1]);
  const seq = Number(m[2]);
  return Number.isSafeInteger(seq) ? { stream, seq } : null;
}

export interface ReplayedEvent {
  id: string;
  json: string;
}

export interface Replay {
  /** The stream's retained messages after the position, oldest first. */
  events: ReplayedEvent[];
  /** How many messages after the position the cap dropped (they come before `events`). */
  lost: number;
  /** The stream will get no more messages (a POST stream whose answer is complete). */
  closed: boolean;
}

interface Entry {
  readonly stream: number;
  readonly seq: number;
  readonly json: string;
}

interface StreamState {
  /** Seq of the newest message (0: none yet). */
  last: number;
  /** Highest seq written to a connection; later ones are waiting for the client. */
  delivered: number;
  /** Highest seq the cap dropped. */
  evicted: number;
  /** Messages of this stream still in the log. */
  held: number;
  closed: boolean;
}

export class ReplayLog {
  private entries: Entry[] = [];
  private size = 0;
  private readonly streams = new Map<number, StreamState>();
  private nextStream = GET_STREAM + 1;
  /** Undelivered messages the cap dropped, in all. */
  dropped = 0;

  constructor(
    private readonly limits: ReplayLimits,
    /** Called when the cap drops a message no connection has carried yet. */
    private readonly onDrop?: (stream: number, seq: number) => void,
  ) {}

  /** Messages held, and their total size; for tests and stats. */
  get held(): { events: number; bytes: number } {
    return { events: this.entries.length, bytes: this.size };
  }

  /** A new POST stream. */
  newStream(): number {
    const stream = this.nextStream++;
    this.streams.set(stream, newState());
    return stream;
  }

  /** True when `stream` was handed out by this log (it may have expired since). */
  issued(stream: number): boolean {
    return stream === GET_STREAM || stream < this.nextStream;
  }

  /** Adds a message to a stream and returns its event id; `delivered`: it is being written to a live connection. */
  append(stream: number, json: string, delivered: boolean): string {
    const st = this.state(stream);
    const seq = ++st.last;
    if (delivered) st.delivered = seq;
    this.entries.push({ stream, seq, json });
    st.held++;
    this.size += json.length;
    this.trim();
    return eventId(stream, seq);
  }

  /** Where the GET stream's undelivered messages start: the seq of the last one a connection carried. */
  deliveredThrough(stream: number): number {
    return this.streams.get(stream)?.delivered ?? 0;
  }

  /**
   * The messages of `stream` after `seq`, now counted as delivered. Null when the stream is unknown
   * (never issued, or over and expired) or `seq` is past its end.
   */
  replay(stream: number, seq: number): Replay | null {
    const st = stream === GET_STREAM ? this.state(stream) : this.streams.get(stream);
    if (!st || seq > st.last) return null;
    const events: ReplayedEvent[] = [];
    if (st.held > 0) {
      for (const e of this.entries) if (e.stream === stream && e.seq > seq) events.push({ id: eventId(stream, e.seq), json: e.json });
    }
    if (st.last > st.delivered) st.delivered = st.last;
    return { events, lost: Math.max(0, st.evicted - seq), closed: st.closed };
  }

  /** The stream gets no more messages; its state goes once its last message leaves the log. */
  close(stream: number): void {
    const st = this.streams.get(stream);
    if (!st || stream === GET_STREAM) return;
    st.closed = true;
    if (st.held === 0) this.streams.delete(stream);
  }

  private state(stream: number): StreamState {
    let st = this.streams.get(stream);
    if (!st) {
      st = newState();
      this.streams.set(stream, st);
    }
    return st;
  }

  private trim(): void {
    const { maxEvents, maxBytes } = this.limits;
    while (this.entries.length > maxEvents || this.size > maxBytes) {
      let i = this.entries.findIndex((e) => e.seq <= (this.streams.get(e.stream)?.delivered ?? 0));
      if (i < 0) {
        if (this.entries.length === 1) return;
        i = 0;
      }
      this.evict(i);
    }
  }

  private evict(i: number): void {
    const [e] = this.entries.splice(i, 1);
    if (!e) return;
    this.size -= e.json.length;
    const st = this.streams.get(e.stream);
    if (!st) return;
    st.held--;
    st.evicted = e.seq;
    if (e.seq > st.delivered) {
      this.dropped++;
      this.onDrop?.(e.stream, e.seq);
    }
    if (st.closed && st.held === 0) this.streams.delete(e.stream);
  }
}

function newState(): StreamState {
  return { last: 0, delivered: 0, evicted: 0, held: 0, closed: false };
}
