/**
 * Protocol revision 2026-07-28 (stateless): per-request `_meta` envelope, standard request headers,
 * result decoration (resultType, cache hints, serverInfo) and the `server/discover` answer.
 * Pure functions; the HTTP side lives in stateless.ts.
 */
import type { JsonRpcId } from './jsonrpc.js';
import { isObject } from './jsonrpc.js';

export const MODERN_VERSION = '2026-07-28';
export const MODERN_VERSIONS: readonly string[] = [MODERN_VERSION];

export const PROTOCOL_VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';
export const CLIENT_INFO_KEY = 'io.modelcontextprotocol/clientInfo';
export const CLIENT_CAPABILITIES_KEY = 'io.modelcontextprotocol/clientCapabilities';
export const LOG_LEVEL_KEY = 'io.modelcontextprotocol/logLevel';
export const SERVER_INFO_KEY = 'io.modelcontextprotocol/serverInfo';
export const SUBSCRIPTION_ID_KEY = 'io.modelcontextprotocol/subscriptionId';

export const METHOD_HEADER = 'mcp-method';
export const NAME_HEADER = 'mcp-name';

/** JSON-RPC codes the 2026-07-28 revision defines. */
export const HEADER_MISMATCH = -32020;
export const MISSING_CLIENT_CAPABILITY = -32021;
export const UNSUPPORTED_VERSION = -32022;

/** Results that carry `ttlMs`/`cacheScope` on this revision. */
const CACHEABLE = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read', 'server/discover']);
/** Methods whose `Mcp-Name` header mirrors a body field. */
const NAME_SOURCE: Record<string, string> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };
/** Server capability keys the revision defines (others, e.g. the removed `tasks`, are dropped from discover). */
const SERVER_CAPABILITY_KEYS = ['experimental', 'logging', 'completions', 'prompts', 'resources', 'tools', 'extensions'];
const LOG_LEVELS = new Set(['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']);

export const DEFAULT_TTL_MS = 0;
export const DEFAULT_CACHE_SCOPE = 'private';

export function isModernVersion(v: unknown): v is string {
  return typeof v === 'string' && v >= MODERN_VERSION;
}


export function metaOf(params: unknown): Record<string, unknown> | undefined {
  if (!isObject(params)) return undefined;
  return isObject(params._meta) ? params._meta : undefined;
}

/** True when a message's `_meta` claims the per-request envelope (the protocol-version key is present). */
export function claimsEnvelope(params: unknown): boolean {
  const meta = metaOf(params);
  return meta !== undefined && PROTOCOL_VERSION_KEY in meta;
}

/** A refusal of one modern request: HTTP status, JSON-RPC code, message and data. */
export interface ModernRefusal {
  status: number;
  code: number;
  message: string;
  data?: unknown;
}

/** What a valid envelope tells us about the client. */
export interface Envelope {
  version: string;
  clientInfo: Record<string, unknown> | undefined;
  capabilities: Record<string, unknown>;
  logLevel: string | undefined;
}

/** Validate a request's envelope; notifications need only the protocol version. */
export function readEnvelope(params: unknown, isRequest: boolean): Envelope | ModernRefusal {
  const meta = metaOf(params);
  const invalid = (key: string, problem: string): ModernRefusal => ({
    status: 400,
    code: -32602,
    message: `Invalid _meta envelope for protocol revision ${MODERN_VERSION}: ${key}: ${problem}`,
    data: { envelope: { key, problem } },
  });
  if (!meta || !(PROTOCOL_VERSION_KEY in meta)) return invalid(PROTOCOL_VERSION_KEY, 'missing');
  const version = meta[PROTOCOL_VERSION_KEY];
  if (typeof version !== 'string') return invalid(PROTOCOL_VERSION_KEY, 'expected a protocol version string');
  if (!MODERN_VERSIONS.includes(version)) {
    return { status: 400, code: UNSUPPORTED_VERSION, message: `Unsupported protocol version: ${version}`, data: { supported: [...MODERN_VERSIONS], requested: version } };
  }
  const caps = meta[CLIENT_CAPABILITIES_KEY];
  if (isRequest && caps === undefined) return invalid(CLIENT_CAPABILITIES_KEY, 'missing');
  if (caps !== undefined && !isObject(caps)) return invalid(CLIENT_CAPABILITIES_KEY, 'expected an object');
  const info = meta[CLIENT_INFO_KEY];
  if (info !== undefined && (!isObject(info) || typeof info.name !== 'string')) return invalid(CLIENT_INFO_KEY, 'expected {name, version}');
  const level = meta[LOG_LEVEL_KEY];
  if (level !== undefined && (typeof level !== 'string' || !LOG_LEVELS.has(level))) return invalid(LOG_LEVEL_KEY, 'expected a logging level');
  return { version, clientInfo: info as Record<string, unknown> | undefined, capabilities: (caps ?? {}) as Record<string, unknown>, logLevel: level as string | undefined };
}

export function isRefusal(v: Envelope | ModernRefusal | undefined): v is ModernRefusal {
  return v !== undefined && 'status' in v;
}

function mismatch(header: string, body: string): ModernRefusal {
  return { status: 400, code: HEADER_MISMATCH, message: `Bad Request: the request headers and body disagree: ${body}`, data: { mismatch: { header, body } } };
}

/** `=?base64?…?=` values carry non-ASCII text; anything else is literal. Undefined when the sentinel is malformed. */
export function decodeHeaderValue(v: string): string | undefined {
  const m = /^=\?base64\?(.*)\?=$/i.exec(v);
  if (!m) return v;
  const b64 = m[1] ?? '';
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return undefined;
  return Buffer.from(b64, 'base64').toString('utf8');
}

export interface StandardHeaders {
  version: string | undefined;
  method: string | undefined;
  name: string | undefined;
}

/** SEP-2243 standard headers against the body (requests need all; notifications only agree). */
export function checkHeaders(h: StandardHeaders, method: string, params: unknown, version: string, isRequest: boolean): ModernRefusal | undefined {
  const trim = (s: string | undefined): string | undefined => s?.trim();
  const hv = trim(h.version);
  const hm = trim(h.method);
  const hn = trim(h.name);
  if (hv !== undefined && hv !== version) return mismatch(hv, `the body envelope names protocol version ${version} but the MCP-Protocol-Version header names ${hv}`);
  if (hm !== undefined && hm !== method) return mismatch(hm, `the body names method ${method} but the Mcp-Method header names ${hm}`);
  if (!isRequest) return undefined;
  if (hv === undefined) return mismatch('(missing)', `the body envelope names protocol version ${version} but the required MCP-Protocol-Version header is absent`);
  if (hm === undefined) return mismatch('(missing)', `the body names method ${method} but the required Mcp-Method header is absent`);
  const field = NAME_SOURCE[method];
  if (field === undefined) return undefined;
  const raw = isObject(params) ? params[field] : undefined;
  const bodyValue = typeof raw === 'string' ? raw : undefined;
  if (hn === undefined) {
    return bodyValue === undefined ? undefined : mismatch('(missing)', `the body carries params.${field}="${bodyValue}" but the required Mcp-Name header is absent`);
  }
  const decoded = decodeHeaderValue(hn);
  if (decoded === undefined) return mismatch(hn, 'the Mcp-Name header carries an invalid Base64 sentinel value');
  if (bodyValue !== undefined && decoded !== bodyValue) return mismatch(hn, `the body carries params.${field}="${bodyValue}" but the Mcp-Name header names "${decoded}"`);
  return undefined;
}

/** Params as an older server should see them: the reserved envelope keys removed from `_meta`. */
export function stripEnvelope(params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const meta = metaOf(params);
  if (!params || !meta) return params;
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(meta)) if (!k.startsWith('io.modelcontextprotocol/')) rest[k] = v;
  const out: Record<string, unknown> = { ...params };
  delete out.requestState;
  delete out.inputResponses;
  if (Object.keys(rest).length === 0) delete out._meta;
  else out._meta = rest;
  return out;
}

const validTtl = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const validScope = (v: unknown): boolean => v === 'public' || v === 'private';

/** A result as the revision requires it: `resultType`, cache hints on cacheable results, serverInfo in `_meta`. */
export function decorateResult(method: string, result: unknown, serverInfo: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = isObject(result) ? { ...result } : {};
  if (typeof out.resultType !== 'string') out.resultType = 'complete';
  if (out.resultType === 'complete' && CACHEABLE.has(method)) {
    if (!validTtl(out.ttlMs)) out.ttlMs = DEFAULT_TTL_MS;
    if (!validScope(out.cacheScope)) out.cacheScope = DEFAULT_CACHE_SCOPE;
  }
  if (serverInfo !== undefined) {
    const meta = isObject(out._meta) ? out._meta : {};
    if (meta[SERVER_INFO_KEY] === undefined) out._meta = { ...meta, [SERVER_INFO_KEY]: serverInfo };
  }
  return out;
}

/** The `server/discover` result from a stdio server's cached initialize result. */
export function discoverResult(init: Record<string, unknown>): Record<string, unknown> {
  const caps = isObject(init.capabilities) ? init.capabilities : {};
  const capabilities: Record<string, unknown> = {};
  for (const k of SERVER_CAPABILITY_KEYS) if (caps[k] !== undefined) capabilities[k] = caps[k];
  const out: Record<string, unknown> = { supportedVersions: [...MODERN_VERSIONS], capabilities };
  if (typeof init.instructions === 'string') out.instructions = init.instructions;
  return decorateResult('server/discover', out, init.serverInfo);
}

/** The `initialize` a bridge sends an old stdio server on behalf of a stateless client. */
export function initializeFor(env: Envelope, id: JsonRpcId, legacyVersion: string): { jsonrpc: '2.0'; id: JsonRpcId; method: string; params: Record<string, unknown> } {
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion: legacyVersion, capabilities: env.capabilities, clientInfo: env.clientInfo ?? { name: 'stateless-client', version: '0' } },
  };
}

/** Listen filter keys this revision defines. */
export interface ListenFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

/** The part of a requested filter a server with these capabilities can honour. */
export function honoredFilter(requested: unknown, caps: Record<string, unknown>, resources: boolean): ListenFilter {
  const f = isObject(requested) ? requested : {};
  const listChanged = (k: string): boolean => isObject(caps[k]) && (caps[k] as Record<string, unknown>).listChanged === true;
  const out: ListenFilter = {};
  if (f.toolsListChanged === true && listChanged('tools')) out.toolsListChanged = true;
  if (f.promptsListChanged === true && listChanged('prompts')) out.promptsListChanged = true;
  if (f.resourcesListChanged === true && listChanged('resources')) out.resourcesListChanged = true;
  const subscribe = isObject(caps.resources) && (caps.resources as Record<string, unknown>).subscribe === true;
  if (resources && subscribe && Array.isArray(f.resourceSubscriptions)) {
    const uris = f.resourceSubscriptions.filter((u): u is string => typeof u === 'string');
    if (uris.length > 0) out.resourceSubscriptions = uris;
  }
  return out;
}

/** Whether a server notification belongs on a listen stream with this filter. */
export function filterAccepts(filter: ListenFilter, method: string, params: Record<string, unknown> | undefined): boolean {
  switch (method) {
    case 'notifications/tools/list_changed':
      return filter.toolsListChanged === true;
    case 'notifications/prompts/list_changed':
      return filter.promptsListChanged === true;
    case 'notifications/resources/list_changed':
      return filter.resourcesListChanged === true;
    case 'notifications/resources/updated':
      return typeof params?.uri === 'string' && (filter.resourceSubscriptions ?? []).includes(params.uri);
    case 'notifications/message':
      return true;
    default:
      return false;
  }
}

/** A copy of a notification tagged with the listen stream's subscription id. */
export function tagNotification(method: string, params: Record<string, unknown> | undefined, subscriptionId: JsonRpcId): string {
  const meta = metaOf(params) ?? {};
  return JSON.stringify({ jsonrpc: '2.0', method, params: { ...params, _meta: { ...meta, [SUBSCRIPTION_ID_KEY]: subscriptionId } } });
}
