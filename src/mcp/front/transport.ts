import { randomBytes } from 'node:crypto';
import { BerthError } from '../../core/errors.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientIdentity, SessionLimits } from '../types.js';
import { SessionAdmission } from './admission.js';
import { PostExchange } from './exchange.js';
import type { ResumeHooks } from './exchange.js';
import { GET_STREAM, ReplayLog, eventId, parseEventId, replayLimits } from './replay.js';
import type { Replay, ReplayLimits } from './replay.js';
import { HEADER_MISMATCH, claimsEnvelope, isModernVersion } from '../wire/modern.js';
import { StatelessFront, sendRefusal } from './stateless.js';
import type { StatelessBackend } from './stateless.js';
import { LegacySseFront } from './legacy.js';
import type { LegacyKind } from './legacy.js';
import type { Session, SessionEndReason, SessionHost, SessionKind, TransportBackend } from './session.js';
import {
  LAST_EVENT_ID_HEADER,
  SESSION_HEADER,
  SSE_KEEPALIVE,
  VERSION_HEADER,
  acceptsAll,
  headerValue,
  isJsonContentType,
  isSupportedVersion,
  sendJson,
  sendError,
  sseComment,
  sseEvent,
  ssePriming,
  startSse,
} from '../wire/http.js';
import type { JsonRpcMessage, JsonRpcRequest, JsonRpcResponse } from '../wire/jsonrpc.js';
import {
  isMessage,
  isNotification,
  isRequest,
} from '../wire/jsonrpc.js';

export type { Session, SessionEndReason, SessionHost, SessionKind, TransportBackend } from './session.js';

export interface TransportOptions {
  limits: SessionLimits;
  /** A POST whose answer is not ready after this long switches to SSE (default 10 s). */
  sseAfterMs?: number;
  /** Keepalive comment interval on GET streams (default 25 s). */
  keepaliveMs?: number;
  log?: (line: string) => void;
  /** Serves protocol revision 2026-07-28 (stateless) requests on the same endpoint when given. */
  stateless?: StatelessBackend;
}

const ALLOW = 'GET, POST, DELETE';
/** The first revision whose clients accept a priming event (empty data). */
const PRIMING_SINCE = '2025-11-25';

/** Server side of the MCP Streamable HTTP transport (revision 2025-11-25), mode-agnostic. */
export class StreamableHttpTransport<T> implements SessionHost<T> {
  readonly sessions = new Map<string, Session<T>>();
  private initializing = 0;
  private closed = false;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly sseAfterMs: number;
  private readonly keepaliveMs: number;
  private readonly replayLimits: ReplayLimits;
  readonly stateless: StatelessFront | null;
  private readonly legacy: LegacySseFront<T>;
  private readonly admission: SessionAdmission<T>;

  constructor(
    private readonly backend: TransportBackend<T>,
    private readonly opts: TransportOptions,
  ) {
    this.sseAfterMs = opts.sseAfterMs ?? 10_000;
    this.keepaliveMs = opts.keepaliveMs ?? 25_000;
    this.replayLimits = replayLimits(opts.limits.replay);
    this.admission = new SessionAdmission(this.sessions, opts.limits, (s, reason) => this.endSession(s, reason), opts.log);
    this.legacy = new LegacySseFront(this, backend, opts.log);
    this.stateless = opts.stateless ? new StatelessFront(opts.stateless, { sseAfterMs: this.sseAfterMs, keepaliveMs: this.keepaliveMs, log: opts.log }) : null;
    const every = Math.max(20, Math.min(5_000, Math.floor(opts.limits.idleTimeoutMs / 4), this.keepaliveMs));
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  async handle(req: IncomingMessage, res: ServerResponse, body: Buffer, client?: ClientIdentity): Promise<void> {
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
          await this.post(req, res, body, client);
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
  handleLegacy(req: IncomingMessage, res: ServerResponse, body: Buffer, kind: LegacyKind, basePath: string, client?: ClientIdentity): Promise<void> {
    if (this.closed) {
      sendError(res, new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closed'));
      return Promise.resolve();
    }
    return this.legacy.handle(req, res, body, kind, basePath, client);
  }

  /** Send a message not tied to a request: on the GET stream, or kept in the replay log until one opens. */
  sendToSession(session: Session<T>, json: string): void {
    if (session.ended) return;
    this.deliver(session, json, null);
  }

  /** Send one message to every session (serialised once). */
  broadcast(json: string): void {
    let plain: string | null = null;
    for (const s of this.sessions.values()) {
      if (s.kind !== 'streamable') plain ??= sseEvent(json);
      this.deliver(s, json, plain);
    }
  }

  /** The newest POST of a session with a live connection, for server requests that should ride along with it. */
  openPost(session: Session<T>): PostExchange | null {
    if (!session.posts) return null;
    let last: PostExchange | null = null;
    for (const p of session.posts) if (p.connected) last = p;
    return last;
  }

  endSession(session: Session<T>, reason: SessionEndReason): void {
    if (session.ended) return;
    session.ended = true;
    this.sessions.delete(session.id);
    this.admission.disown(session);
    this.backend.sessionEnded(session, reason);
    const stream = session.stream;
    session.stream = null;
    session.log = null;
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

  /** A new session object (not yet registered); `stateless` ones live for one request and keep nothing. */
  newSession(kind: SessionKind): Session<T> {
    return {
      id: randomBytes(18).toString('base64url'),
      kind,
      lastSeen: Date.now(),
      open: 0,
      stream: null,
      streamWrittenAt: 0,
      log: null,
      prime: false,
      posts: null,
      ended: false,
      owner: null,
      data: this.backend.newSessionData(),
    };
  }

  /**
   * Register a session that another front end (legacy SSE) opened, for `client`; at a cap an idle session
   * makes room (SessionAdmission), else this throws TOO_MANY_SESSIONS.
   */
  admit(session: Session<T>, client?: ClientIdentity): void {
    if (this.closed) throw new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closed');
    const refused = this.admission.makeRoom(client, this.initializing);
    if (refused) throw refused;
    this.admission.own(session, client);
    this.sessions.set(session.id, session);
  }

  /**
   * One message on a session's GET stream. Streamable HTTP sessions log it (with its event id) for
   * replay, and for a GET stream that is not open yet; a legacy session's stream is the session, so
   * with no stream there is nobody to keep it for. `plain` is the id-less event, when already made.
   */
  private deliver(session: Session<T>, json: string, plain: string | null): void {
    const stream = session.stream && !session.stream.writableEnded ? session.stream : null;
    if (session.kind !== 'streamable') {
      if (!stream) return;
      stream.write(plain ?? sseEvent(json));
      session.streamWrittenAt = Date.now();
      return;
    }
    const id = this.logOf(session).append(GET_STREAM, json, stream !== null);
    if (!stream) return;
    stream.write(sseEvent(json, id));
    session.streamWrittenAt = Date.now();
  }

  private logOf(session: Session<T>): ReplayLog {
    return (session.log ??= new ReplayLog(this.replayLimits, () => {
      // Said once per session (without its id: that is the client's credential); a client that
      // resumes across the gap is told how much it missed.
      if (session.log?.dropped === 1) {
        const { maxEvents, maxBytes } = this.replayLimits;
        this.opts.log?.(`bridge: a session's replay log is full (${maxEvents} messages / ${maxBytes} bytes): dropping its oldest undelivered messages`);
      }
    }));
  }

  private resumeHooks(session: Session<T>): ResumeHooks | null {
    if (session.kind !== 'streamable') return null;
    return { log: () => this.logOf(session), prime: session.prime };
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
    this.admission.touch(session);
    return session;
  }

  private async post(req: IncomingMessage, res: ServerResponse, body: Buffer, client: ClientIdentity | undefined): Promise<void> {
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
    if (this.stateless && headerValue(req, SESSION_HEADER) === undefined && this.routeModern(req, res, parsed, client)) return;
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
      await this.initialize(res, init, client);
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
    const exchange = new PostExchange(res, requests, batch, this.sseAfterMs, this.keepaliveMs, this.resumeHooks(session));
    (session.posts ??= new Set()).add(exchange);
    session.open++;
    exchange.onDone = () => {
      session.open--;
      session.lastSeen = Date.now();
      this.admission.touch(session);
      session.posts?.delete(exchange);
      if (session.posts?.size === 0) session.posts = null;
    };
    for (const m of messages) this.dispatch(session, m, exchange);
  }

  /** Revision 2026-07-28 detection for a session-less POST; true when it was answered here. */
  private routeModern(req: IncomingMessage, res: ServerResponse, parsed: unknown, client: ClientIdentity | undefined): boolean {
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
    front.handle(req, res, parsed, client).catch((err: unknown) => {
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

  private async initialize(res: ServerResponse, init: JsonRpcRequest, client: ClientIdentity | undefined): Promise<void> {
    const refused = this.admission.makeRoom(client, this.initializing);
    if (refused) {
      sendError(res, refused);
      return;
    }
    const session = this.newSession('streamable');
    this.admission.own(session, client);
    this.initializing++;
    let answer: JsonRpcResponse;
    try {
      answer = await this.initializeBackend(session, init);
    } catch (err) {
      session.ended = true;
      this.admission.disown(session);
      this.backend.sessionEnded(session, 'rejected');
      if (err instanceof BerthError) sendError(res, err);
      else sendError(res, new BerthError('INTERNAL', `Initialize failed: ${err instanceof Error ? err.message : String(err)}`));
      return;
    } finally {
      this.initializing--;
    }
    if ('error' in answer || this.closed || res.destroyed) {
      session.ended = true;
      this.admission.disown(session);
      this.backend.sessionEnded(session, 'rejected');
      if (!res.destroyed) sendJson(res, 200, JSON.stringify(answer));
      return;
    }
    session.lastSeen = Date.now();
    session.prime = String((answer.result as { protocolVersion?: unknown } | null)?.protocolVersion) >= PRIMING_SINCE;
    this.sessions.set(session.id, session);
    sendJson(res, 200, JSON.stringify(answer), { [SESSION_HEADER]: session.id });
  }

  /**
   * The backend's initialize. A backend at its own limit (isolated mode's processes, taken by listen streams
   * and stateless calls too) refuses with TOO_MANY_SESSIONS: an idle session then makes room, once.
   */
  private async initializeBackend(session: Session<T>, init: JsonRpcRequest): Promise<JsonRpcResponse> {
    try {
      return await this.backend.initialize(session, init);
    } catch (err) {
      const full = err instanceof BerthError && err.code === 'TOO_MANY_SESSIONS';
      if (!full || session.ended || !this.admission.evict(() => true, 'the limit of processes')) throw err;
      return this.backend.initialize(session, init);
    }
  }

  private get(req: IncomingMessage, res: ServerResponse): void {
    if (!acceptsAll(headerValue(req, 'accept'), ['text/event-stream'])) {
      sendError(res, new BerthError('NOT_ACCEPTABLE', 'Not Acceptable: Accept must include text/event-stream'));
      return;
    }
    const session = this.lookup(req, res);
    if (!session) return;
    const lastId = headerValue(req, LAST_EVENT_ID_HEADER)?.trim();
    if (lastId && session.kind === 'streamable') {
      this.resume(session, lastId, res);
      return;
    }
    this.openGetStream(session, res);
    if (session.kind !== 'streamable') return;
    // A fresh GET stream gets what the GET stream could not deliver so far, after a priming event
    // naming that position (so even a connection that drops at once can be resumed).
    const from = session.log?.deliveredThrough(GET_STREAM) ?? 0;
    if (session.prime) res.write(ssePriming(eventId(GET_STREAM, from)));
    const pending = session.log?.replay(GET_STREAM, from);
    if (pending) writeReplay(res, pending, eventId(GET_STREAM, from));
  }

  /**
   * GET with `Last-Event-ID`: replay what followed that event on its stream (never another stream's
   * messages: the id names the stream, and the log is the session's own), then carry on live. For a
   * POST's stream, live means until its last response; a stream that is over just gets the rest.
   * An id that is not ours, names a stream this session never had, or one that is over with nothing
   * left to send is refused with 400 UNKNOWN_EVENT_ID (the SDK clients retry a few times, then give up).
   */
  private resume(session: Session<T>, lastId: string, res: ServerResponse): void {
    const at = parseEventId(lastId);
    const log = session.log;
    // No log yet: the session never sent an event with an id, save the GET stream's priming `0:0`.
    const replay = !at ? null : log ? log.replay(at.stream, at.seq) : at.stream === GET_STREAM && at.seq === 0 ? NOTHING : null;
    let post: PostExchange | null = null;
    if (at && at.stream !== GET_STREAM && session.posts) {
      for (const p of session.posts) if (p.streamId === at.stream && p.open) post = p;
    }
    if (!at || !replay || (at.stream !== GET_STREAM && !post && replay.events.length === 0)) {
      const why = !at
        ? 'it is not an event id this endpoint issued'
        : log?.issued(at.stream)
          ? 'that stream is over and its events have expired, or the id is past its end'
          : 'this session has no such stream';
      sendError(res, new BerthError('UNKNOWN_EVENT_ID', `Bad Request: cannot resume from Last-Event-ID ${JSON.stringify(lastId.slice(0, 64))}: ${why}`));
      return;
    }
    if (at.stream === GET_STREAM) {
      this.openGetStream(session, res);
      writeReplay(res, replay, lastId);
      return;
    }
    startSse(res);
    writeReplay(res, replay, lastId);
    if (!post?.attach(res)) res.end();
  }

  /** Make `res` the session's GET stream (a GET stream already open is ended: one per session). */
  private openGetStream(session: Session<T>, res: ServerResponse): void {
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
  }

  private delete(req: IncomingMessage, res: ServerResponse): void {
    const session = this.lookup(req, res);
    if (!session) return;
    this.endSession(session, 'deleted');
    res.writeHead(204).end();
  }
}

const NOTHING: Replay = { events: [], lost: 0, closed: false };

/** Write replayed events; a gap the cap made is said in a comment first. */
function writeReplay(res: ServerResponse, replay: Replay, after: string): void {
  if (replay.lost > 0) res.write(sseComment(`berth: ${replay.lost} message(s) after event ${after} were dropped from the replay log (it is capped)`));
  for (const e of replay.events) res.write(sseEvent(e.json, e.id));
}
