/**
 * Which transport a remote MCP endpoint speaks, found by asking it:
 *
 * 1. in parallel, a 2025-11-25 `initialize` POST and a 2026-07-28 `server/discover` POST (with the
 *    `_meta` envelope and standard headers). A result to `initialize` with an `Mcp-Session-Id` means
 *    the remote serves 2025 sessions (the session it opened is ended with DELETE); a discover result
 *    naming 2026-07-28 means it serves the stateless revision. A remote may do both: with sessions it
 *    is `streamable-http` (+ modern); without (a stateless 2025 fallback) it is `stateless`, since
 *    translation gives 2025 clients more (server→client requests, list_changed) than that fallback.
 * 2. if neither answered, a GET with `Accept: text/event-stream` that yields an `endpoint` event means
 *    the legacy HTTP+SSE transport (2024-11-05).
 */
import { BerthError } from '../../core/errors.js';
import { LATEST_PROTOCOL_VERSION, SESSION_HEADER, VERSION_HEADER } from '../wire/http.js';
import { isObject, isResponse } from '../wire/jsonrpc.js';
import type { JsonRpcResponse } from '../wire/jsonrpc.js';
import { CLIENT_CAPABILITIES_KEY, CLIENT_INFO_KEY, METHOD_HEADER, MODERN_VERSION, PROTOCOL_VERSION_KEY } from '../wire/modern.js';
import { forbiddenIn } from './ssrf.js';
import { JSON_AND_SSE, contentType, errorText, headerOf, readEvents, readMessages, type RemoteHttp } from './wire.js';

/** What a remote speaks: `streamable-http` (2025 sessions), `stateless` (2026-07-28 only), `sse` (legacy). */
export type RemoteTransport = 'streamable-http' | 'stateless' | 'sse';

export interface Detection {
  transport: RemoteTransport;
  /** The remote also serves the stateless revision (only meaningful for `streamable-http`). */
  modern: boolean;
  /** The remote's `server/discover` result, when it gave one. */
  discover: Record<string, unknown> | null;
  /** What each probe saw, for the log line and error messages. */
  evidence: string[];
}

const CLIENT_INFO = { name: 'berth-detect', version: '0.1.0' };


/** POST one request and read its response (JSON or SSE); undefined plus a note when there is none. */
async function rpc(http: RemoteHttp, headers: Record<string, string>, body: object, id: string, signal: AbortSignal): Promise<{ answer?: JsonRpcResponse; status: number; sessionId?: string; note: string }> {
  const res = await http.request({ method: 'POST', headers: { 'content-type': 'application/json', accept: JSON_AND_SSE, ...headers }, body: JSON.stringify(body), signal });
  const ct = contentType(res);
  if (!ct.startsWith('application/json') && !ct.startsWith('text/event-stream')) {
    await res.body.dump();
    return { status: res.statusCode, note: `HTTP ${res.statusCode} (${ct || 'no content type'})` };
  }
  let answer: JsonRpcResponse | undefined;
  await readMessages(res, (m) => {
    if (isResponse(m) && m.id === id) answer = m;
  });
  const note = answer ? ('error' in answer ? `HTTP ${res.statusCode}, error ${answer.error.code} ${answer.error.message}` : `HTTP ${res.statusCode}, a result`) : `HTTP ${res.statusCode}, no answer`;
  return { answer, status: res.statusCode, sessionId: headerOf(res, SESSION_HEADER), note };
}

/** Does the remote open 2025 sessions? Ends the session it opened. */
async function tryInitialize(http: RemoteHttp, signal: AbortSignal): Promise<{ ok: boolean; session: boolean; note: string }> {
  const id = 'berth-detect-initialize';
  const r = await rpc(http, {}, { jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: CLIENT_INFO } }, id, signal);
  const result = r.answer && 'result' in r.answer && isObject(r.answer.result) ? r.answer.result : undefined;
  const ok = typeof result?.protocolVersion === 'string';
  if (r.sessionId !== undefined) {
    const version = typeof result?.protocolVersion === 'string' ? result.protocolVersion : LATEST_PROTOCOL_VERSION;
    await http
      .request({ method: 'DELETE', headers: { [SESSION_HEADER]: r.sessionId, [VERSION_HEADER]: version }, signal })
      .then((d) => d.body.dump())
      .catch(() => {});
  }
  return { ok, session: ok && r.sessionId !== undefined, note: `initialize: ${r.note}${ok ? (r.sessionId ? ' with a session' : ' without a session') : ''}` };
}

/** Does the remote serve revision 2026-07-28? */
async function tryDiscover(http: RemoteHttp, signal: AbortSignal): Promise<{ result: Record<string, unknown> | null; note: string }> {
  const id = 'berth-detect-discover';
  const params = { _meta: { [PROTOCOL_VERSION_KEY]: MODERN_VERSION, [CLIENT_CAPABILITIES_KEY]: {}, [CLIENT_INFO_KEY]: CLIENT_INFO } };
  const r = await rpc(http, { [VERSION_HEADER]: MODERN_VERSION, [METHOD_HEADER]: 'server/discover' }, { jsonrpc: '2.0', id, method: 'server/discover', params }, id, signal);
  const result = r.answer && 'result' in r.answer && isObject(r.answer.result) ? r.answer.result : null;
  const versions = Array.isArray(result?.supportedVersions) ? result.supportedVersions : [];
  return { result: result && versions.includes(MODERN_VERSION) ? result : null, note: `server/discover: ${r.note}` };
}

/** Does a GET open a legacy SSE stream with an endpoint event? */
async function tryLegacySse(http: RemoteHttp, signal: AbortSignal): Promise<{ ok: boolean; note: string }> {
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  signal.addEventListener('abort', stop, { once: true });
  try {
    const res = await http.request({ method: 'GET', headers: { accept: 'text/event-stream' }, signal: ac.signal });
    if (res.statusCode !== 200 || !contentType(res).startsWith('text/event-stream')) {
      await res.body.dump();
      return { ok: false, note: `GET: HTTP ${res.statusCode} (${contentType(res) || 'no content type'})` };
    }
    let ok = false;
    await readEvents(res, (e) => {
      if (e.event !== 'endpoint') return;
      ok = true;
      ac.abort(); // seen enough: close the stream (and so the remote's session)
    }).catch((err: unknown) => {
      if (!ok) throw err;
    });
    return { ok, note: ok ? 'GET: an SSE stream with an endpoint event' : 'GET: an SSE stream without an endpoint event' };
  } finally {
    signal.removeEventListener('abort', stop);
    ac.abort();
  }
}

/** Error codes that mean no HTTP answer came at all: nothing listens, the name does not resolve, no route, the connection broke. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);

function isNetworkError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  }
  return false;
}

/** Ask the remote which transport it speaks; rejects (UPSTREAM_UNAVAILABLE) when it speaks none Berth knows or cannot be reached. */
export async function detectTransport(http: RemoteHttp, timeoutMs: number): Promise<Detection> {
  const signal = AbortSignal.timeout(timeoutMs);
  const evidence: string[] = [];
  const note = (what: string) => (err: unknown) => {
    // The SSRF guard refused the remote's address: say so, whatever else the probes saw.
    const forbidden = forbiddenIn(err);
    if (forbidden) throw new BerthError('REMOTE_ADDRESS_FORBIDDEN', `Remote MCP server at ${http.endpoint} is refused: ${forbidden.message}`);
    const reason = signal.aborted ? `no answer within ${timeoutMs} ms` : errorText(err);
    return { failed: `${what}: ${reason}`, reason, unreachable: signal.aborted || isNetworkError(err) };
  };
  const [init, disc] = await Promise.all([tryInitialize(http, signal).catch(note('initialize')), tryDiscover(http, signal).catch(note('server/discover'))]);
  evidence.push('failed' in init ? init.failed : init.note, 'failed' in disc ? disc.failed : disc.note);
  const legacyOk = !('failed' in init) && init.ok;
  const sessions = !('failed' in init) && init.session;
  const discover = 'failed' in disc ? null : disc.result;
  // A 2025 server with sessions is proxied as it is. A dual-era server whose 2025 side has no sessions
  // (the SDK 2.x stateless fallback: no GET stream, no server→client requests) serves 2025 clients
  // better through translation to its 2026-07-28 side, so it counts as stateless.
  if (sessions || (legacyOk && !discover)) return { transport: 'streamable-http', modern: discover !== null, discover, evidence };
  if (discover) return { transport: 'stateless', modern: true, discover, evidence };
  const sse = await tryLegacySse(http, signal).catch(note('GET'));
  evidence.push('failed' in sse ? sse.failed : sse.note);
  if (!('failed' in sse) && sse.ok) return { transport: 'sse', modern: false, discover: null, evidence };
  // Nothing answered at all: say so, rather than that whatever is there speaks no MCP.
  if ('failed' in init && 'failed' in disc && 'failed' in sse && init.unreachable && disc.unreachable && sse.unreachable) {
    throw new BerthError('UPSTREAM_UNAVAILABLE', `Remote MCP server at ${http.endpoint} is unreachable: ${init.reason}`);
  }
  throw new BerthError('UPSTREAM_UNAVAILABLE', `Remote MCP server at ${http.endpoint} speaks no MCP transport Berth knows (${evidence.join('; ')})`);
}

/** Fetch the remote's `server/discover` result (stateless remotes). */
export async function fetchDiscover(http: RemoteHttp, timeoutMs: number): Promise<Record<string, unknown>> {
  const r = await tryDiscover(http, AbortSignal.timeout(timeoutMs));
  if (!r.result) throw new BerthError('UPSTREAM_UNAVAILABLE', `Remote MCP server did not answer server/discover (${r.note})`);
  return r.result;
}
