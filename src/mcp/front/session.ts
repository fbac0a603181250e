import type { ServerResponse } from 'node:http';
import type { ClientIdentity } from '../types.js';
import type { Exchange, PostExchange } from './exchange.js';
import type { ReplayLog } from './replay.js';
import type { JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../wire/jsonrpc.js';

// Sessions as every front end sees them. The Streamable HTTP transport owns them; the legacy SSE front
// opens and ends them through `SessionHost`, so neither front imports the other.

/** How a session's client talks to us: Streamable HTTP, legacy HTTP+SSE, or one stateless request. */
export type SessionKind = 'streamable' | 'legacy' | 'stateless';

/** One client session. Kept small: no timers, no buffers until needed. */
export interface Session<T> {
  readonly id: string;
  readonly kind: SessionKind;
  lastSeen: number;
  /** Open HTTP streams (GET stream + POSTs in progress); an open stream keeps the session alive. */
  open: number;
  stream: ServerResponse | null;
  streamWrittenAt: number;
  /**
   * Streamable HTTP only: the messages of the session's SSE streams, for `Last-Event-ID` replay and
   * for the GET stream while none is open. Created with the first message on an event stream.
   */
  log: ReplayLog | null;
  /** The session negotiated 2025-11-25 or later: its event streams open with a priming event. */
  prime: boolean;
  posts: Set<PostExchange> | null;
  ended: boolean;
  /** Whose session it is (for the per-token and per-address caps), when the gateway said. */
  owner: ClientIdentity | null;
  data: T;
}

export type SessionEndReason = 'deleted' | 'expired' | 'closed' | 'rejected' | 'upstream-exit' | 'evicted' | 'drained';

/** What the transport needs from a bridge mode (shared or isolated). */
export interface TransportBackend<T> {
  newSessionData(): T;
  /** Answer a new session's initialize (throw a BerthError to refuse with its HTTP status). */
  initialize(session: Session<T>, req: JsonRpcRequest): Promise<JsonRpcResponse>;
  request(session: Session<T>, req: JsonRpcRequest, exchange: Exchange): void;
  notification(session: Session<T>, msg: JsonRpcNotification): void;
  response(session: Session<T>, msg: JsonRpcResponse): void;
  sessionEnded(session: Session<T>, reason: SessionEndReason): void;
}

/** What a second front end (legacy HTTP+SSE) needs from the transport that owns the sessions. */
export interface SessionHost<T> {
  readonly sessions: ReadonlyMap<string, Session<T>>;
  /** A new session object (not yet registered). */
  newSession(kind: SessionKind): Session<T>;
  /** Register a session for `client`; throws TOO_MANY_SESSIONS when no room can be made. */
  admit(session: Session<T>, client?: ClientIdentity): void;
  endSession(session: Session<T>, reason: SessionEndReason): void;
  /** Send a message not tied to a request on the session's stream. */
  sendToSession(session: Session<T>, json: string): void;
}
