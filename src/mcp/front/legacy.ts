/**
 * The legacy HTTP+SSE transport (protocol 2024-11-05): `GET …/sse` opens a stream whose first event
 * (`endpoint`) names the POST URL `…/message?sessionId=ID`; each POST is answered 202 and its
 * responses arrive on the stream. A front end over the same sessions and backends as Streamable HTTP:
 * the stream is the session's stream, so notifications and server requests reach it unchanged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BerthError } from '../../core/errors.js';
import type { Exchange } from './exchange.js';
import { acceptsAll, headerValue, isJsonContentType, sendError, startSse } from '../wire/http.js';
import type { JsonRpcMessage } from '../wire/jsonrpc.js';
import { errorResponse, isMessage, isNotification, isRequest } from '../wire/jsonrpc.js';
import { rpcCodeFor } from '../wire/http.js';
import type { Session, SessionHost, TransportBackend } from './session.js';
import type { ClientIdentity } from '../types.js';

export type LegacyKind = 'sse' | 'message';

/** Answers of one request go onto the session's SSE stream. */
class StreamExchange<T> implements Exchange {
  constructor(
    private readonly transport: SessionHost<T>,
    private readonly session: Session<T>,
  ) {}

  get open(): boolean {
    return !this.session.ended;
  }

  respond(msg: object | string): void {
    this.transport.sendToSession(this.session, typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  notify(msg: object | string): boolean {
    if (this.session.ended) return false;
    this.respond(msg);
    return true;
  }

  abandon(): void {}

  abandonAll(): void {}
}

export class LegacySseFront<T> {
  constructor(
    private readonly transport: SessionHost<T>,
    private readonly backend: TransportBackend<T>,
    private readonly log?: (line: string) => void,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, body: Buffer, kind: LegacyKind, basePath: string, client?: ClientIdentity): Promise<void> {
    try {
      if (kind === 'sse') {
        if (req.method !== 'GET') return sendError(res, new BerthError('METHOD_NOT_ALLOWED', 'Method not allowed; use GET'), { allow: 'GET' });
        return this.open(req, res, basePath, client);
      }
      if (req.method !== 'POST') return sendError(res, new BerthError('METHOD_NOT_ALLOWED', 'Method not allowed; use POST'), { allow: 'POST' });
      await this.message(req, res, body);
    } catch (err) {
      this.log?.(`bridge: legacy SSE internal error: ${err instanceof Error ? err.message : String(err)}`);
      sendError(res, new BerthError('INTERNAL'));
    }
  }

  private open(req: IncomingMessage, res: ServerResponse, basePath: string, client: ClientIdentity | undefined): void {
    if (!acceptsAll(headerValue(req, 'accept'), ['text/event-stream'])) {
      return sendError(res, new BerthError('NOT_ACCEPTABLE', 'Not Acceptable: Accept must include text/event-stream'));
    }
    const session = this.transport.newSession('legacy');
    try {
      this.transport.admit(session, client);
    } catch (err) {
      session.ended = true;
      this.backend.sessionEnded(session, 'rejected');
      return sendError(res, err instanceof BerthError ? err : new BerthError('INTERNAL'));
    }
    startSse(res);
    res.write(`event: endpoint\ndata: ${basePath}/message?sessionId=${encodeURIComponent(session.id)}\n\n`);
    session.stream = res;
    session.open++;
    session.streamWrittenAt = Date.now();
    // In this transport the stream is the session: when it closes, the session ends.
    res.on('close', () => {
      session.open--;
      if (session.stream === res) session.stream = null;
      this.transport.endSession(session, 'deleted');
    });
  }

  private async message(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const sid = url.searchParams.get('sessionId');
    if (!sid) return sendError(res, new BerthError('MISSING_SESSION', 'Bad Request: the sessionId query parameter is required'));
    const session = this.transport.sessions.get(sid);
    if (!session || session.kind !== 'legacy') return sendError(res, new BerthError('SESSION_NOT_FOUND', 'Session not found; open a new SSE stream'));
    if (!isJsonContentType(headerValue(req, 'content-type'))) {
      return sendError(res, new BerthError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported Media Type: Content-Type must be application/json'));
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return sendError(res, new BerthError('INVALID_JSON', 'Parse error: the body is not valid JSON'));
    }
    const msgs = Array.isArray(parsed) ? (parsed as unknown[]) : [parsed];
    if (msgs.length === 0 || !msgs.every(isMessage)) {
      return sendError(res, new BerthError('INVALID_JSONRPC', 'Invalid Request: the body is not a JSON-RPC 2.0 message or batch'));
    }
    session.lastSeen = Date.now();
    res.writeHead(202, { 'content-type': 'text/plain' }).end('Accepted');
    for (const m of msgs as JsonRpcMessage[]) await this.dispatch(session, m);
  }

  private async dispatch(session: Session<T>, m: JsonRpcMessage): Promise<void> {
    if (isRequest(m)) {
      if (m.method !== 'initialize') {
        this.backend.request(session, m, new StreamExchange(this.transport, session));
        return;
      }
      let answer;
      try {
        answer = await this.backend.initialize(session, m);
      } catch (err) {
        const e = err instanceof BerthError ? err : new BerthError('INTERNAL', err instanceof Error ? err.message : String(err));
        answer = errorResponse(m.id, rpcCodeFor(e.code), e.message);
      }
      this.transport.sendToSession(session, JSON.stringify(answer));
      return;
    }
    if (isNotification(m)) this.backend.notification(session, m);
    else this.backend.response(session, m);
  }
}
