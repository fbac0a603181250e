import { randomBytes } from 'node:crypto';
import { BerthError } from '../core/errors.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionLimits } from './types.js';
import { PostExchange } from './exchange.js';
import type { Exchange } from './exchange.js';
import { HEADER_MISMATCH, claimsEnvelope, isModernVersion } from './modern.js';
import { StatelessFront, sendRefusal } from './stateless.js';
import type { StatelessBackend } from './stateless.js';
import { LegacySseFront } from './legacy.js';
import type { LegacyKind } from './legacy.js';
import {
  SESSION_HEADER,
  SSE_KEEPALIVE,
  VERSION_HEADER,
  acceptsAll,
  headerValue,
  isJsonContentType,
  isSupportedVersion,
  sendJson,
  sendError,
  sseEvent,
  startSse,
} from './http.js';
import type { JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from './jsonrpc.js';
import {
  isMessage,
  isNotification,
  isRequest,
} from './jsonrpc.js';

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
  queue: string[] | null;
  posts: Set<PostExchange> | null;
  ended: boolean;
  data: T;
}

export type SessionEndReason = 'deleted' | 'expired' | 'closed' | 'rejected' | 'upstream-exit';

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

export interface TransportOptions {
  limits: SessionLimits;
  /** A POST whose answer is not ready after this long switches to SSE (default 10 s). */
  sseAfterMs?: number;
  /** Keepalive comment interval on GET streams (default 25 s). */
  keepaliveMs?: number;
  /** Messages kept for a session with no GET stream open (default 1000; oldest dropped). */
  maxQueue?: number;
  log?: (line: string) => void;
  /** Serves protocol revision 2026-07-28 (stateless) requests on the same endpoint when given. */
  stateless?: StatelessBackend;
}

const ALLOW = 'GET, POST, DELETE';

/** Server side of the MCP Streamable HTTP transport (revision 2025-11-25), mode-agnostic. */
export class StreamableHttpTransport<T> {
  readonly sessions = new Map<string, Session<T>>();
  private initializing = 0;
  private closed = false;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly sseAfterMs: number;
  private readonly keepaliveMs: number;
  private readonly maxQueue: number;
  readonly stateless: StatelessFront | null;
  private readonly legacy: LegacySseFront<T>;

  constructor(
    private readonly backend: TransportBackend<T>,
    private readonly opts: TransportOptions,
  ) {
    this.sseAfterMs = opts.sseAfterMs ?? 10_000;
    this.keepaliveMs = opts.keepaliveMs ?? 25_000;
    this.maxQueue = opts.maxQueue ?? 1000;
    this.legacy = new LegacySseFront(this, backend, opts.log);
    this.stateless = opts.stateless ? new StatelessFront(opts.stateless, { sseAfterMs: this.sseAfterMs, keepaliveMs: this.keepaliveMs, log: opts.log }) : null;
    const every = Math.max(20, Math.min(5_000, Math.floor(opts.limits.idleTimeoutMs / 4), this.keepaliveMs));
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  async handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    try {
      const version = headerValue(req, VERSION_HEADER);
      const modern = this.stateless !== null && headerValue(req, SESSION_HEADER) === undefined && isModernVersion(version);
      if (modern && req.method !== 'POST') {
        sendError(res, new BerthError('METHOD_NOT_ALLOWED', 'Method not allowed: protocol revision 2026-07-28 uses POST only'), { allow: 'POST' });
        return;
      }
      if (version !== undefined && !isSupportedVersion(version) && !modern) {
        sendError(res, new BerthError('UNSUPPORTED_PROTOCOL_VERSION', `Bad Request: unsupported MCP-Protocol-Version ${version}`));
        return;
      }
      if (this.closed) {
        sendError(res, new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closed'));
        return;
      }
      switch (req.method) {
        case 'POST':
          await this.post(req, res, body);
          return;
        case 'GET':
          this.get(req, res);
          return;
        case 'DELETE':
          this.delete(req, res);
          return;
        default:
          sendError(res, new BerthError('METHOD_NOT_ALLOWED', `Method not allowed; use ${ALLOW}`), { allow: ALLOW });
      }
    } catch (err) {
      this.opts.log?.(`bridge: internal error: ${err instanceof Error ? err.message : String(err)}`);
      sendError(res, new BerthError('INTERNAL'));
    }
  }

  /** The legacy HTTP+SSE transport (2024-11-05): `kind` says which of its two URLs was addressed. */
  handleLegacy(req: IncomingMessage, res: ServerResponse, body: Buffer, kind: LegacyKind, basePath: string): Promise<void> {
    if (this.closed) {
      sendError(res, new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closed'));
      return Promise.resolve();
    }
    return this.legacy.handle(req, res, body, kind, basePath);
  }

  /** Send a message not tied to a request: on the GET stream, or queued until one opens. */
  sendToSession(session: Session<T>, json: string): void {
    if (session.ended) return;
    this.deliverEvent(session, sseEvent(json));
  }

  /** Send one message to every session (serialised once). */
  broadcast(json: string): void {
    const event = sseEvent(json);
    for (const s of this.sessions.values()) this.deliverEvent(s, event);
  }

  /** The newest open POST of a session, for server requests that should ride along with it. */
  openPost(session: Session<T>): PostExchange | null {
    if (!session.posts) return null;
    let last: PostExchange | null = null;
    for (const p of session.posts) if (p.open) last = p;
    return last;
  }

  endSession(session: Session<T>, reason: SessionEndReason): void {
    if (session.ended) return;
    session.ended = true;
    this.sessions.delete(session.id);
    this.backend.sessionEnded(session, reason);
    const stream = session.stream;
    session.stream = null;
    session.queue = null;
    if (stream && !stream.writableEnded) stream.end();
    if (session.posts) for (const p of [...session.posts]) p.abandonAll();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.stateless?.close();
    for (const s of [...this.sessions.values()]) this.endSession(s, 'closed');
  }

  /** A new session object (not yet registered); `stateless` ones live for one request and queue nothing. */
  newSession(kind: SessionKind): Session<T> {
    return {
      id: randomBytes(18).toString('base64url'),
      kind,
      lastSeen: Date.now(),
      open: 0,
      stream: null,
      streamWrittenAt: 0,
      queue: null,
      posts: null,
      ended: false,
      data: this.backend.newSessionData(),
    };
  }

  /** Register a session that another front end (legacy SSE) opened; throws TOO_MANY_SESSIONS at the limit. */
  admit(session: Session<T>): void {
    if (this.closed) throw new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closed');
    if (this.sessions.size + this.initializing >= this.opts.limits.maxSessions) {
      throw new BerthError('TOO_MANY_SESSIONS', 'Too many sessions: the deployment has reached its session limit');
    }
    this.sessions.set(session.id, session);
  }

  private deliverEvent(session: Session<T>, event: string): void {
    const stream = session.stream;
    if (stream && !stream.writableEnded) {
      stream.write(event);
      session.streamWrittenAt = Date.now();
      return;
    }
    if (session.kind === 'stateless') return;
    const q = (session.queue ??= []);
    q.push(event);
    if (q.length > this.maxQueue) q.shift();
  }

  private sweep(): void {
    const now = Date.now();
    const idle = this.opts.limits.idleTimeoutMs;
    for (const s of this.sessions.values()) {
      if (s.open > 0) {
        s.lastSeen = now;
        if (s.stream && now - s.streamWrittenAt >= this.keepaliveMs) {
          s.stream.write(SSE_KEEPALIVE);
          s.streamWrittenAt = now;
        }
      } else if (now - s.lastSeen > idle) {
        this.endSession(s, 'expired');
      }
    }
  }

  private lookup(req: IncomingMessage, res: ServerResponse): Session<T> | null {
    const sid = headerValue(req, SESSION_HEADER);
    if (!sid) {
      sendError(res, new BerthError('MISSING_SESSION', 'Bad Request: Mcp-Session-Id header is required'));
      return null;
    }
    const session = this.sessions.get(sid);
    if (!session) {
      sendError(res, new BerthError('SESSION_NOT_FOUND'));
      return null;
    }
    session.lastSeen = Date.now();
    return session;
  }

  private async post(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    if (!isJsonContentType(headerValue(req, 'content-type'))) {
      sendError(res, new BerthError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported Media Type: Content-Type must be application/json'));
      return;
    }
    if (!acceptsAll(headerValue(req, 'accept'), ['application/json', 'text/event-stream'])) {
      sendError(res, new BerthError('NOT_ACCEPTABLE', 'Not Acceptable: Accept must include application/json and text/event-stream'));
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      sendError(res, new BerthError('INVALID_JSON', 'Parse error: the body is not valid JSON'));
      return;
    }
    if (this.stateless && headerValue(req, SESSION_HEADER) === undefined && this.routeModern(req, res, parsed)) return;
    const batch = Array.isArray(parsed);
    const msgs: unknown[] = batch ? (parsed as unknown[]) : [parsed];
    if (msgs.length === 0 || !msgs.every(isMessage)) {
      sendError(res, new BerthError('INVALID_JSONRPC', 'Invalid Request: the body is not a JSON-RPC 2.0 message or batch'));
      return;
    }
    const messages = msgs as JsonRpcMessage[];
    const init = messages.find((m) => isRequest(m) && m.method === 'initialize') as JsonRpcRequest | undefined;
    if (init) {
      if (batch) {
        sendError(res, new BerthError('INVALID_JSONRPC', 'Invalid Request: initialize must be sent on its own, not in a batch'));
        return;
      }
      await this.initialize(res, init);
      return;
    }
    const session = this.lookup(req, res);
    if (!session) return;
    let requests = 0;
    for (const m of messages) if (isRequest(m)) requests++;
    if (requests === 0) {
      for (const m of messages) this.dispatch(session, m, null);
      res.writeHead(202).end();
      return;
    }
    const exchange = new PostExchange(res, requests, batch, this.sseAfterMs, this.keepaliveMs);
    (session.posts ??= new Set()).add(exchange);
    session.open++;
    exchange.onDone = () => {
      session.open--;
      session.lastSeen = Date.now();
      session.posts?.delete(exchange);
      if (session.posts?.size === 0) session.posts = null;
    };
    for (const m of messages) this.dispatch(session, m, exchange);
  }

  /** Revision 2026-07-28 detection for a session-less POST; true when it was answered here. */
  private routeModern(req: IncomingMessage, res: ServerResponse, parsed: unknown): boolean {
    const front = this.stateless;
    if (!front) return false;
    const headerModern = isModernVersion(headerValue(req, VERSION_HEADER));
    if (Array.isArray(parsed)) {
      const claim = parsed.some((m) => typeof m === 'object' && m !== null && claimsEnvelope((m as Record<string, unknown>).params));
      if (!claim && !headerModern) return false;
      sendRefusal(res, { status: 400, code: -32600, message: 'Bad Request: JSON-RPC batches may not contain requests for protocol revision 2026-07-28 or later' }, null);
      return true;
    }
    if (!isMessage(parsed)) return false;
    const params = 'params' in parsed ? parsed.params : undefined;
    const claim = claimsEnvelope(params);
    if (isRequest(parsed) && parsed.method === 'initialize' && !claim) {
      if (!headerModern) return false;
      const body = 'an initialize request (legacy handshake) was sent with a modern MCP-Protocol-Version header';
      sendRefusal(res, { status: 400, code: HEADER_MISMATCH, message: `Bad Request: the request headers and body disagree: ${body}`, data: { mismatch: { header: headerValue(req, VERSION_HEADER), body } } }, parsed.id);
      return true;
    }
    if (!claim && !headerModern) return false;
    front.handle(req, res, parsed).catch((err: unknown) => {
      this.opts.log?.(`bridge: internal error: ${err instanceof Error ? err.message : String(err)}`);
      sendError(res, new BerthError('INTERNAL'));
    });
    return true;
  }

  private dispatch(session: Session<T>, m: JsonRpcMessage, exchange: PostExchange | null): void {
    if (isRequest(m)) {
      if (exchange) this.backend.request(session, m, exchange);
    } else if (isNotification(m)) this.backend.notification(session, m);
    else this.backend.response(session, m);
  }

  private async initialize(res: ServerResponse, init: JsonRpcRequest): Promise<void> {
    if (this.sessions.size + this.initializing >= this.opts.limits.maxSessions) {
      sendError(res, new BerthError('TOO_MANY_SESSIONS', 'Too many sessions: the deployment has reached its session limit'));
      return;
    }
    const session = this.newSession('streamable');
    this.initializing++;
    let answer: JsonRpcResponse;
    try {
      answer = await this.backend.initialize(session, init);
    } catch (err) {
      session.ended = true;
      this.backend.sessionEnded(session, 'rejected');
      if (err instanceof BerthError) sendError(res, err);
      else sendError(res, new BerthError('INTERNAL', `Initialize failed: ${err instanceof Error ? err.message : String(err)}`));
      return;
    } finally {
      this.initializing--;
    }
    if ('error' in answer || this.closed || res.destroyed) {
      session.ended = true;
      this.backend.sessionEnded(session, 'rejected');
      if (!res.destroyed) sendJson(res, 200, JSON.stringify(answer));
      return;
    }
    session.lastSeen = Date.now();
    this.sessions.set(session.id, session);
    sendJson(res, 200, JSON.stringify(answer), { [SESSION_HEADER]: session.id });
  }

  private get(req: IncomingMessage, res: ServerResponse): void {
    if (!acceptsAll(headerValue(req, 'accept'), ['text/event-stream'])) {
      sendError(res, new BerthError('NOT_ACCEPTABLE', 'Not Acceptable: Accept must include text/event-stream'));
      return;
    }
    const session = this.lookup(req, res);
    if (!session) return;
    const old = session.stream;
    if (old) {
      session.stream = null;
      old.end();
    }
    startSse(res);
    session.stream = res;
    session.open++;
    session.streamWrittenAt = Date.now();
    res.on('close', () => {
      session.open--;
      session.lastSeen = Date.now();
      if (session.stream === res) session.stream = null;
    });
    const queued = session.queue;
    session.queue = null;
    if (queued) for (const ev of queued) res.write(ev);
  }

  private delete(req: IncomingMessage, res: ServerResponse): void {
    const session = this.lookup(req, res);
    if (!session) return;
    this.endSession(session, 'deleted');
    res.writeHead(204).end();
  }
}
