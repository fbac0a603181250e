/**
 * Fuzz case generators for the gateway: bodies (random bytes, random JSON, structure-aware
 * mutations of valid MCP messages, text-level damage), headers, HTTP methods and paths.
 *
 * A case is a pure function of (seed, index, context): `generateCase` never looks at run state.
 * Session ids are symbolic (`own`, `other`, …) and resolved by the runner at send time.
 */
import { DupObject, RawJson, deepNest, writeJson } from './json-text.js';
import { caseRng, type Rng } from './prng.js';

export type Target = 'shared' | 'isolated';

/** How the Mcp-Session-Id header is filled in at send time. */
export type SessionChoice =
  | 'none' // no header
  | 'own' // a live session this worker created
  | 'other' // a live session another worker created (never an honest session)
  | 'random' // well-formed but unknown
  | 'empty'
  | 'long' // 6000 characters
  | 'huge' // 40 000 characters: over Node's header limit
  | 'nonascii' // latin-1 bytes (raw wire)
  | 'padded' // own session with surrounding spaces
  | 'twice'; // two Mcp-Session-Id headers (raw wire)

export type Wire = 'pool' | 'raw';

/** Framing tweaks only a raw socket can make. */
export interface RawTweaks {
  /** Content-Length: body length minus some, plus some (then half-close), not a number, two headers, absent. */
  contentLength?: 'short' | 'long' | 'bad' | 'double' | 'none';
  /** Host header value (null: no Host header at all). */
  host?: string | null;
  /** Send the body chunked. */
  chunked?: boolean;
  /** A malformed header line. */
  junkHeader?: string;
  httpVersion?: 'HTTP/1.0' | 'HTTP/1.1';
}

/** Which client generation the case imitates. */
export type Flavor = 'session' | 'stateless' | 'legacy';

/** Placeholder in a path for the fuzzer's own legacy session id (filled in at send time). */
export const LEGACY_SID = '{LEGACY_SID}';

export interface FuzzCase {
  index: number;
  flavor: Flavor;
  /** The body generator. */
  gen: string;
  /** What is special about the case (mutations, header and path kinds); also used to leave out known bugs. */
  features: string[];
  target: Target;
  method: string;
  path: string;
  /** Request headers except Mcp-Session-Id (and Host/Content-Length, which the wire sets). */
  headers: [string, string][];
  session: SessionChoice;
  /** Random material for session values that need it. */
  sessionNoise: string;
  body: Buffer | null;
  wire: Wire;
  raw: RawTweaks;
  /** Longest `slow` tool call in the body (ms): widens the latency bound. */
  slowMs: number;
  /** The body carries an initialize request (costs a process in isolated mode). */
  initialize: boolean;
  /** The answer may be an endless stream (subscriptions/listen, GET …/sse): read it briefly. */
  streaming: boolean;
}

export interface CaseContext {
  /** Deployment id per target. */
  ids: Record<Target, string>;
  maxBodyBytes: number;
  /** A token that may call every deployment: some cases send it (the fuzz deployments are public, so it changes nothing). */
  token?: string;
}

export const PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'] as const;
export const MCP_ACCEPT = 'application/json, text/event-stream';

/** The tag every string a case sends carries; a response may only contain tags its request carried. */
export function caseTag(index: number): string {
  return `@@t:c${index}@@`;
}

// ---------------------------------------------------------------- valid messages

interface Gen {
  rng: Rng;
  tag: string;
  features: string[];
  slowMs: number;
  initialize: boolean;
  target: Target;
  nextId: number;
  flavor: Flavor;
  streaming: boolean;
}

type Msg = Record<string, unknown>;

function newId(g: Gen): unknown {
  const n = g.nextId++;
  const r = g.rng.float();
  if (r < 0.55) return n;
  if (r < 0.9) return `${g.tag}-${n}`;
  if (r < 0.95) return 0;
  return String(n);
}

function req(g: Gen, method: string, params?: unknown): Msg {
  const m: Msg = { jsonrpc: '2.0', id: newId(g), method };
  if (params !== undefined) m.params = params;
  return m;
}

function note(method: string, params?: unknown): Msg {
  const m: Msg = { jsonrpc: '2.0', method };
  if (params !== undefined) m.params = params;
  return m;
}

export const MODERN_VERSION = '2026-07-28';
const PV = 'io.modelcontextprotocol/protocolVersion';
const CAPS = 'io.modelcontextprotocol/clientCapabilities';

/** Revision 2026-07-28: the per-request `_meta` envelope, mostly valid, sometimes damaged. */
function envelope(g: Gen): Msg {
  const rng = g.rng;
  const env: Msg = { [PV]: MODERN_VERSION, [CAPS]: rng.chance(0.8) ? {} : { sampling: {}, roots: { listChanged: true } } };
  if (rng.chance(0.3)) env['io.modelcontextprotocol/clientInfo'] = rng.chance(0.8) ? { name: g.tag, version: '1' } : rng.pick<unknown>(['x', { version: 1 }, null]);
  if (rng.chance(0.15)) env['io.modelcontextprotocol/logLevel'] = rng.pick(['info', 'debug', 'loud', 7]);
  if (rng.chance(0.12)) {
    g.features.push('envelope:bad');
    const bad = rng.int(5);
    if (bad === 0) env[PV] = rng.pick<unknown>(['2025-11-25', '2027-01-01', 20260728, null, '']);
    else if (bad === 1) delete env[CAPS];
    else if (bad === 2) env[CAPS] = rng.pick<unknown>([[], 'all', 1, null]);
    else if (bad === 3) delete env[PV];
    else env[`io.modelcontextprotocol/${rng.pick(['unknown', 'serverInfo', 'subscriptionId'])}`] = g.tag;
  }
  return env;
}

/** Put the envelope into a message's params (creating them when absent). */
function addEnvelope(g: Gen, m: Msg): Msg {
  if (!g.rng.chance(0.9)) return m;
  const params = typeof m.params === 'object' && m.params !== null && !Array.isArray(m.params) ? (m.params as Msg) : m.params === undefined ? {} : null;
  if (params === null) return m;
  const meta = typeof params._meta === 'object' && params._meta !== null ? (params._meta as Msg) : {};
  m.params = { ...params, _meta: { ...meta, ...envelope(g) } };
  return m;
}

function withProgress(g: Gen, params: Msg): Msg {
  const r = g.rng.float();
  if (r < 0.6) return params;
  const token = r < 0.85 ? `${g.tag}-p${g.nextId++}` : g.rng.int(1_000_000);
  return { ...params, _meta: { progressToken: token } };
}

function toolCall(g: Gen): Msg {
  const tool = g.rng.weighted<string>([
    [50, 'echo'],
    [8, 'whoami'],
    [6, 'stats'],
    [8, 'slow'],
    [5, 'big'],
    [10, 'unknown'],
    // Server-to-client requests: refused in shared mode; in isolated mode they wait for an answer
    // the fuzzer never sends (until BERTH_REQUEST_TIMEOUT_S), so keep them rare there.
    [g.target === 'shared' ? 3 : 0.3, 'sample'],
    [g.target === 'shared' ? 2 : 0.2, 'roots'],
  ]);
  switch (tool) {
    case 'echo':
      return req(g, 'tools/call', withProgress(g, { name: 'echo', arguments: { text: `${g.tag} ${g.rng.pick(TEXTS)}` } }));
    case 'slow': {
      const ms = g.rng.range(5, g.rng.chance(0.1) ? 1500 : 200);
      g.slowMs = Math.max(g.slowMs, ms);
      return req(g, 'tools/call', withProgress(g, { name: 'slow', arguments: { ms, steps: g.rng.range(1, 4) } }));
    }
    case 'big':
      return req(g, 'tools/call', { name: 'big', arguments: { n: g.rng.int(20_000) } });
    case 'unknown':
      return req(g, 'tools/call', { name: g.rng.pick(['nope', '', `${g.tag}`, 'ECHO', 'echo ', '../echo']), arguments: { text: g.tag } });
    case 'sample':
      return req(g, 'tools/call', { name: 'sample', arguments: { prompt: g.tag } });
    default:
      return req(g, 'tools/call', { name: tool, arguments: {} });
  }
}

const TEXTS = ['hello', '', 'ünïcödé ✓ 🚀', 'line\nbreak\ttab', '"quotes" \\ back', '\u2028\u2029', 'x'.repeat(300), '\u0000nul'];

function validMessage(g: Gen): Msg {
  const m = baseMessage(g);
  return g.flavor === 'stateless' ? addEnvelope(g, m) : m;
}

function baseMessage(g: Gen): Msg {
  if (g.flavor === 'stateless' && g.rng.chance(0.25)) {
    const k = g.rng.int(3);
    if (k === 0) return req(g, 'server/discover', {});
    if (k === 1) {
      g.streaming = true;
      return req(g, 'subscriptions/listen', { notifications: g.rng.pick<unknown>([{ toolsListChanged: true }, { resourceSubscriptions: ['mem://counter', `mem://x${g.rng.int(3)}`] }, {}, null, 'all']) });
    }
    // Cancel a request id a stateless client is likely to be using right now.
    return note('notifications/cancelled', { requestId: g.rng.int(8), reason: g.tag });
  }
  const kind = g.rng.weighted<string>([
    [8, 'initialize'],
    [4, 'initialized'],
    [8, 'tools/list'],
    [30, 'tools/call'],
    [6, 'ping'],
    [5, 'resources'],
    [3, 'other-request'],
    [6, 'cancelled'],
    [4, 'progress'],
    [3, 'other-notification'],
    [5, 'response'],
    [3, 'error-response'],
  ]);
  switch (kind) {
    case 'initialize':
      g.initialize = true;
      return req(g, 'initialize', {
        protocolVersion: g.rng.chance(0.8) ? g.rng.pick(PROTOCOL_VERSIONS) : g.rng.pick(['2024-11-05', '1999-01-01', 'latest', '']),
        capabilities: g.rng.chance(0.5) ? {} : { roots: { listChanged: true }, sampling: {}, elicitation: {} },
        clientInfo: { name: g.tag, version: '1.0.0' },
      });
    case 'initialized':
      return note('notifications/initialized');
    case 'tools/list':
      return req(g, 'tools/list', g.rng.chance(0.3) ? { cursor: g.rng.pick(['', 'abc', g.tag]) } : {});
    case 'tools/call':
      return toolCall(g);
    case 'ping':
      return req(g, 'ping', g.rng.chance(0.5) ? undefined : {});
    case 'resources': {
      const m = g.rng.pick(['resources/list', 'resources/read', 'resources/subscribe', 'resources/unsubscribe', 'resources/templates/list']);
      return req(g, m, m === 'resources/list' || m === 'resources/templates/list' ? {} : { uri: g.rng.pick(['mem://counter', `mem://x${g.rng.int(4)}`, '']) });
    }
    case 'other-request':
      return req(g, g.rng.pick(['prompts/list', 'completion/complete', 'foo/bar', 'notifications/initialized', 'rpc.discover']), {});
    case 'cancelled':
      return note('notifications/cancelled', { requestId: g.rng.chance(0.5) ? g.rng.int(g.nextId + 3) : `${g.tag}-${g.rng.int(g.nextId + 1)}`, reason: g.tag });
    case 'progress':
      return note('notifications/progress', { progressToken: g.rng.chance(0.5) ? g.rng.int(1_000_000) : `${g.tag}-p`, progress: g.rng.int(10), total: 10 });
    case 'other-notification':
      return note(g.rng.pick(['notifications/roots/list_changed', 'notifications/message', 'notifications/whatever', 'notifications/resources/updated']), { uri: g.tag });
    case 'response':
      return { jsonrpc: '2.0', id: newId(g), result: g.rng.chance(0.5) ? {} : { roots: [], tag: g.tag } };
    default:
      return { jsonrpc: '2.0', id: g.rng.chance(0.8) ? newId(g) : null, error: { code: g.rng.pick([-32601, -32603, 42, -1]), message: g.tag } };
  }
}

// ---------------------------------------------------------------- structure-aware mutations

const WEIRD_IDS: (() => unknown)[] = [
  () => ({ id: 1 }),
  () => [1],
  () => 1.5,
  () => new RawJson('9007199254740993'),
  () => new RawJson('1e400'),
  () => new RawJson('-1e-400'),
  () => new RawJson('123456789012345678901234567890123456789'),
  () => -1,
  () => -0,
  () => null,
  () => true,
  () => false,
  () => 'x'.repeat(10_000),
  () => '',
  () => '\ud800',
  () => '🚀',
  () => 2 ** 31,
  () => Number.MAX_SAFE_INTEGER,
];

const WEIRD_METHODS: (() => unknown)[] = [
  () => 42,
  () => null,
  () => ['tools/list'],
  () => ({ name: 'tools/list' }),
  () => '',
  () => 'm'.repeat(100_000),
  () => 'no/such/method',
  () => 'tools/list\u0000',
  () => 'TOOLS/LIST',
  () => 'initialize',
  () => 'notifications/cancelled',
  () => '__proto__',
  () => 'constructor',
  () => 'tools/call ',
];

const WEIRD_PARAMS: (() => unknown)[] = [
  () => [1, 2, 3],
  () => [],
  () => 'params',
  () => 7,
  () => null,
  () => true,
  () => ({ _meta: null }),
  () => ({ _meta: [] }),
  () => ({ _meta: { progressToken: { a: 1 } } }),
  () => ({ _meta: { progressToken: null } }),
  () => ({ _meta: { progressToken: 1.25 } }),
  () => new RawJson('{"__proto__":{"_meta":{"progressToken":1}},"name":"echo","arguments":{"text":"p"}}'),
  () => ({ name: 'echo', arguments: 'text' }),
  () => ({ name: 'echo', arguments: { text: 5 } }),
  () => ({ name: 'echo' }),
];

const WEIRD_JSONRPC: (() => unknown)[] = [() => '1.0', () => undefined, () => 2.0, () => '2.0 ', () => null, () => '2', () => ['2.0'], () => '２.０'];

const UNICODE_STRINGS = ['\ud800', '\udfff', 'a\ud83db', '\u0000', '\uffff\ufffe', '\u202e gnp.exe', 'Ω≈ç√∫', '👩‍👩‍👧‍👦', '\u001b[31m', '\r\n\r\n', 'ß'.repeat(1000)];

const FIELDS = ['jsonrpc', 'id', 'method', 'params', 'result', 'error'];

function mutateMessage(g: Gen, m: Msg): unknown {
  const rng = g.rng;
  const op = rng.weighted<string>([
    [10, 'drop'],
    [12, 'id'],
    [8, 'method'],
    [9, 'params'],
    [6, 'jsonrpc'],
    [6, 'add'],
    [3, 'deep'],
    [5, 'number'],
    [7, 'unicode'],
    [5, 'dupkey'],
    [2, 'wrap'],
    [4, 'proto'],
    [3, 'progress'],
    [2, 'scalar'],
  ]);
  g.features.push(`mut:${op}`);
  switch (op) {
    case 'drop': {
      const keys = Object.keys(m);
      if (keys.length > 0) delete m[rng.pick(keys)];
      return m;
    }
    case 'id':
      m.id = rng.pick(WEIRD_IDS)();
      return m;
    case 'method':
      m.method = rng.pick(WEIRD_METHODS)();
      if (m.method === 'initialize') g.initialize = true;
      return m;
    case 'params':
      m.params = rng.pick(WEIRD_PARAMS)();
      return m;
    case 'jsonrpc':
      m.jsonrpc = rng.pick(WEIRD_JSONRPC)();
      return m;
    case 'add':
      m[rng.pick(FIELDS)] = randomJson(rng, 2, g.tag);
      return m;
    case 'deep': {
      const depth = rng.pick([10, 100, 1000, 2000, 4000, 10_000, 100_000]);
      const shape = rng.chance(0.7) ? 'array' : 'object';
      g.features.push(`deep:${depth >= 10_000 ? 'overflow' : 'ok'}`);
      const nested = deepNest(depth, shape);
      const where = rng.int(3);
      if (where === 0) m.params = { name: 'echo', arguments: { text: g.tag, extra: nested } };
      else if (where === 1) m.id = nested;
      else m[`x${rng.int(3)}`] = nested;
      return m;
    }
    case 'number': {
      const n = rng.pick(['1' + '0'.repeat(400), '1e309', '-1e309', '0.' + '0'.repeat(500) + '1', '1E+2', '-0.0', '1' + '1'.repeat(5000), '0x10', '01', 'NaN', 'Infinity', '+1']);
      m[rng.pick(['id', 'params', 'x'])] = new RawJson(n);
      return m;
    }
    case 'unicode': {
      const s = rng.pick(UNICODE_STRINGS);
      const where = rng.int(3);
      if (where === 0) m.method = s;
      else if (where === 1) m.id = `${g.tag}${s}`;
      else m.params = { name: 'echo', arguments: { text: `${g.tag}${s}` } };
      return m;
    }
    case 'dupkey': {
      const entries = Object.entries(m) as [string, unknown][];
      const key = rng.pick(['id', 'method', 'jsonrpc', 'params']);
      const extra: [string, unknown] = [key, randomJson(rng, 1, g.tag)];
      if (rng.chance(0.5)) entries.unshift(extra);
      else entries.push(extra);
      return new DupObject(entries);
    }
    case 'wrap':
      return rng.chance(0.5) ? [m] : [[m]];
    case 'proto':
      return new DupObject([...(Object.entries(m) as [string, unknown][]), ['__proto__', { jsonrpc: '2.0', id: 1, method: 'ping', result: {} }]]);
    case 'progress':
      m.params = { name: 'slow', arguments: { ms: 20, steps: 2 }, _meta: { progressToken: rng.pick<unknown>([{ a: 1 }, [1], null, true, 1.5, -1, 0, '', g.tag, 'x'.repeat(5000)]) } };
      g.slowMs = Math.max(g.slowMs, 20);
      return m;
    default:
      return rng.pick<unknown>([null, 0, 'x', true, {}, []]);
  }
}

/** A random JSON value (strings carry the tag so echoes of them can be attributed). */
export function randomJson(rng: Rng, depth: number, tag: string): unknown {
  const r = rng.int(depth > 0 ? 9 : 6);
  switch (r) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.int(1000) - 500 : (rng.float() - 0.5) * 10 ** rng.int(30);
    case 3:
      return rng.chance(0.7) ? `${tag}${rng.pick(TEXTS)}` : rng.pick(UNICODE_STRINGS);
    case 4:
      return rng.pick(['2.0', 'initialize', 'tools/call', 'notifications/cancelled', 'jsonrpc', 'id', 'method']);
    case 5:
      return rng.int(5);
    case 6:
    case 7: {
      const n = rng.size(6);
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(randomJson(rng, depth - 1, tag));
      return out;
    }
    default: {
      const n = rng.size(6);
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) out[rng.chance(0.6) ? rng.pick(FIELDS) : `k${rng.int(10)}`] = randomJson(rng, depth - 1, tag);
      return out;
    }
  }
}

// ---------------------------------------------------------------- bodies

function structBody(g: Gen, mutate: boolean): string {
  const rng = g.rng;
  const batch = rng.chance(0.25);
  const count = batch ? rng.range(0, 5) : 1;
  const msgs: unknown[] = [];
  for (let i = 0; i < count; i++) {
    let m: unknown = validMessage(g);
    if (mutate && (count === 1 || rng.chance(0.5))) {
      const times = rng.range(1, 3);
      for (let k = 0; k < times && typeof m === 'object' && m !== null && !Array.isArray(m) && !(m instanceof DupObject); k++) m = mutateMessage(g, m as Msg);
    }
    msgs.push(m);
  }
  if (batch) {
    g.features.push(`batch:${count}`);
    if (count > 1 && rng.chance(0.1)) {
      msgs.push(msgs[0]);
      g.features.push('batch:dup');
    }
    if (g.initialize && msgs.length === 1) g.features.push('batch:lone-initialize');
    return writeJson(msgs);
  }
  return writeJson(msgs[0]);
}

const GARBAGE = ['}', ']', ',', 'null', '\n{"jsonrpc":"2.0","id":1,"method":"ping"}', '\u0000', ' // comment', '\r\n\r\nGET / HTTP/1.1\r\n\r\n', '{', 'x'];

/** Text-level damage to a serialised body. */
function damage(rng: Rng, text: Buffer, features: string[]): Buffer {
  const op = rng.weighted<string>([
    [14, 'truncate'],
    [10, 'garbage'],
    [6, 'bom'],
    [6, 'nul'],
    [10, 'flip'],
    [6, 'insert'],
    [6, 'delete'],
    [8, 'badutf8'],
    [6, 'pad'],
    [3, 'utf16'],
    [3, 'crlf'],
    [3, 'latin1'],
  ]);
  features.push(`dmg:${op}`);
  const pos = text.length === 0 ? 0 : rng.int(text.length);
  switch (op) {
    case 'truncate':
      return text.subarray(0, pos);
    case 'garbage':
      return Buffer.concat([text, Buffer.from(rng.chance(0.8) ? rng.pick(GARBAGE) : rng.bytes(rng.range(1, 40)).toString('latin1'), 'latin1')]);
    case 'bom':
      return Buffer.concat([rng.chance(0.7) ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.from([0xff, 0xfe]), text]);
    case 'nul':
      return Buffer.concat([text.subarray(0, pos), Buffer.from([0]), text.subarray(pos)]);
    case 'flip': {
      const out = Buffer.from(text);
      const n = rng.range(1, 4);
      for (let i = 0; i < n && out.length > 0; i++) out[rng.int(out.length)] = rng.int(256);
      return out;
    }
    case 'insert':
      return Buffer.concat([text.subarray(0, pos), rng.bytes(rng.range(1, 8)), text.subarray(pos)]);
    case 'delete':
      return Buffer.concat([text.subarray(0, pos), text.subarray(Math.min(text.length, pos + rng.range(1, 8)))]);
    case 'badutf8': {
      // Inside a string when possible: after the first quote at or past pos.
      const q = text.indexOf(0x22, pos);
      const at = q === -1 ? pos : q + 1;
      const seq = rng.pick([[0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xff], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80]]);
      return Buffer.concat([text.subarray(0, at), Buffer.from(seq), text.subarray(at)]);
    }
    case 'pad':
      return Buffer.concat([Buffer.from(rng.pick([' ', '\n', '\t\r\n', ' '.repeat(1000)])), text, Buffer.from(rng.pick(['', '\n', '  \r\n']))]);
    case 'utf16':
      return Buffer.from(text.toString('utf8'), 'utf16le');
    case 'crlf': {
      const s = text.toString('latin1').replace(/,/g, ',\r\n');
      return Buffer.from(s, 'latin1');
    }
    default:
      return Buffer.from(text.toString('utf8'), 'latin1');
  }
}

function specialBody(g: Gen, ctx: CaseContext): Buffer {
  const rng = g.rng;
  const kind = rng.weighted<string>([
    [10, 'empty'],
    [2, 'over-limit'],
    [1, 'at-limit'],
    [14, 'deep'],
    [6, 'whitespace'],
    [16, 'scalar'],
    [8, 'empty-batch'],
    [8, 'nested-batch'],
    [2, 'long-string'],
    [6, 'many-items'],
  ]);
  g.features.push(`special:${kind}`);
  switch (kind) {
    case 'empty':
      return Buffer.alloc(0);
    case 'over-limit':
    case 'at-limit': {
      const size = kind === 'over-limit' ? ctx.maxBodyBytes + 1 + rng.int(1000) : ctx.maxBodyBytes;
      const head = `{"jsonrpc":"2.0","id":"${g.tag}","method":"tools/call","params":{"name":"echo","arguments":{"text":"${g.tag}`;
      const tail = '"}}}';
      return Buffer.from(head + 'x'.repeat(Math.max(0, size - head.length - tail.length)) + tail);
    }
    case 'deep': {
      const depth = rng.pick([1000, 4000, 10_000, 100_000, 1_000_000]);
      g.features.push(`deep:${depth >= 10_000 ? 'overflow' : 'ok'}`);
      const nest = deepNest(depth, rng.chance(0.7) ? 'array' : 'object', rng.chance(0.5) ? '0' : `{"jsonrpc":"2.0","id":1,"method":"ping"}`).text;
      if (rng.chance(0.5)) return Buffer.from(nest);
      return Buffer.from(`{"jsonrpc":"2.0","id":"${g.tag}","method":"tools/call","params":{"name":"echo","arguments":{"text":"${g.tag}","d":${nest}}}}`);
    }
    case 'whitespace':
      return Buffer.from(rng.pick([' ', '\n', '\r\n\r\n', '\t', ' '.repeat(5000)]));
    case 'scalar':
      return Buffer.from(rng.pick(['null', 'true', 'false', '0', '-1', '"2.0"', '{}', '""', '1e999', '[null]', '[{}]', '[[]]', '{"jsonrpc":"2.0"}']));
    case 'empty-batch':
      return Buffer.from(rng.pick(['[]', '[ ]', '[[]]', '[[],[]]']));
    case 'nested-batch': {
      const inner = writeJson(validMessage(g));
      return Buffer.from(rng.pick([`[[${inner}]]`, `[${inner},[${inner}]]`, `[${inner},null]`, `[${inner},1]`]));
    }
    case 'long-string':
      return Buffer.from(writeJson(req(g, 'tools/call', { name: 'echo', arguments: { text: g.tag + 'é'.repeat(rng.int(Math.floor(ctx.maxBodyBytes / 3))) } })));
    default: {
      const n = rng.range(6, rng.chance(0.2) ? 200 : 40);
      const items: unknown[] = [];
      for (let i = 0; i < n; i++) items.push(rng.chance(0.5) ? req(g, 'ping') : note('notifications/initialized'));
      g.features.push('batch:many');
      return Buffer.from(writeJson(items));
    }
  }
}

// ---------------------------------------------------------------- headers, methods, paths

function contentType(rng: Rng, features: string[]): string | null {
  const v = rng.weighted<string | null>([
    [86, 'application/json'],
    [2, null],
    [2, 'text/plain'],
    [2, 'application/json; charset=utf-8'],
    [1, 'application/json; charset=latin1'],
    [1, 'APPLICATION/JSON'],
    [1, 'multipart/form-data; boundary=x'],
    [1, 'application/jsonx'],
    [1, 'application/json, text/plain'],
    [1, ''],
    [1, 'application/x-www-form-urlencoded'],
    [1, ' application/json ;;; q=1'],
  ]);
  if (v !== 'application/json') features.push(`ct:${v === null ? 'missing' : v.slice(0, 24)}`);
  return v;
}

function accept(rng: Rng, features: string[]): string | null {
  const v = rng.weighted<string | null>([
    [86, MCP_ACCEPT],
    [3, null],
    [2, '*/*'],
    [2, 'text/html'],
    [1, 'application/json'],
    [1, 'text/event-stream'],
    [1, 'application/*, text/*'],
    [1, 'text/event-stream;q=0, application/json;q=0'],
    [1, ',,,;;;'],
    [1, 'application/json, text/event-stream, ' + 'x/y, '.repeat(500)],
    [1, ''],
  ]);
  if (v !== MCP_ACCEPT) features.push(`accept:${v === null ? 'missing' : v.slice(0, 24)}`);
  return v;
}

function protocolVersion(rng: Rng, features: string[], flavor: Flavor): string | null {
  if (flavor === 'stateless') {
    const v = rng.weighted<string | null>([
      [82, MODERN_VERSION],
      [5, null],
      [3, '2099-01-01'],
      [2, '9'.repeat(50)],
      [2, ` ${MODERN_VERSION} `],
      [2, '2025-11-25'],
      [2, `${MODERN_VERSION}, 2025-11-25`],
      [2, 'z'],
    ]);
    if (v !== MODERN_VERSION) features.push(`version:${v === null ? 'missing' : v.slice(0, 12)}`);
    return v;
  }
  const v = rng.weighted<string | null>([
    [2, MODERN_VERSION],
    [60, null],
    [30, rng.pick(PROTOCOL_VERSIONS)],
    [2, '2024-11-05'],
    [3, '2024-11-05'],
    [2, 'garbage'],
    [1, ''],
    [1, '2025-11-25, 2025-06-18'],
    [1, '9'.repeat(3000)],
    [1, '2025-11-25 '],
  ]);
  if (v !== null && !(PROTOCOL_VERSIONS as readonly string[]).includes(v)) features.push(`version:${v.slice(0, 12)}`);
  return v;
}

/** Mcp-Method / Mcp-Name, the 2026-07-28 standard headers, from the body (mostly agreeing). */
function standardHeaders(rng: Rng, body: Buffer | null, features: string[]): [string, string][] {
  let msg: Msg | null = null;
  try {
    const v = body && body.length < 20_000 ? (JSON.parse(body.toString('utf8')) as unknown) : null;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) msg = v as Msg;
  } catch {
    /* not JSON */
  }
  const out: [string, string][] = [];
  const method = typeof msg?.method === 'string' ? msg.method : 'tools/call';
  const r = rng.float();
  if (r < 0.8) out.push(['mcp-method', method]);
  else if (r < 0.9) {
    out.push(['mcp-method', rng.pick(['tools/list', 'TOOLS/CALL', '', 'x'.repeat(300), `${method} `])]);
    features.push('mcp-method:mismatch');
  } else features.push('mcp-method:missing');
  const params = typeof msg?.params === 'object' && msg.params !== null ? (msg.params as Msg) : {};
  const name = typeof params.name === 'string' ? params.name : typeof params.uri === 'string' ? params.uri : null;
  if (name !== null || rng.chance(0.1)) {
    const v = name ?? 'echo';
    const k = rng.float();
    if (k < 0.7) out.push(['mcp-name', /^[\x20-\x7e]*$/.test(v) ? v : `=?base64?${Buffer.from(v).toString('base64')}?=`]);
    else if (k < 0.8) out.push(['mcp-name', `=?base64?${Buffer.from(v).toString('base64')}?=`]);
    else if (k < 0.9) {
      out.push(['mcp-name', rng.pick(['=?base64?%%%?=', '=?base64?YQ?=', 'other', '=?BASE64??=', `=?base64?${Buffer.from('\u0000\ud800').toString('base64')}?=`])]);
      features.push('mcp-name:bad');
    } else features.push('mcp-name:missing');
  }
  return out;
}

function method(rng: Rng): string {
  return rng.weighted<string>([
    [82, 'POST'],
    [7, 'GET'],
    [5, 'DELETE'],
    [1.5, 'PUT'],
    [1, 'PATCH'],
    [1.5, 'OPTIONS'],
    [1.5, 'HEAD'],
    [0.5, 'RAW-ODD'],
  ]);
}

function path(rng: Rng, id: string, features: string[]): { path: string; rawOnly: boolean } {
  const kind = rng.weighted<string>([
    [88, 'route'],
    [2, 'route-slash'],
    [2, 'query'],
    [1, 'unknown-id'],
    [0.5, 'upper-id'],
    [1, 'traversal'],
    [0.5, 'encoded-id'],
    [0.5, 'malformed-percent'],
    [0.5, 'long'],
    [0.5, 'long-id'],
    [0.5, 'extra-segment'],
    [0.5, 'double-slash'],
    [0.5, 'nul'],
    [0.5, 'unicode'],
    [0.5, 'no-s'],
    [0.5, 'fragment'],
  ]);
  if (kind !== 'route') features.push(`path:${kind}`);
  const base = `/s/${id}/mcp`;
  switch (kind) {
    case 'route':
      return { path: base, rawOnly: false };
    case 'route-slash':
      return { path: `${base}/`, rawOnly: false };
    case 'query':
      return { path: `${base}?${rng.pick(['a=1', 'session=x&x=%ZZ', '', '?', 'q=' + 'z'.repeat(3000), 'a=%00'])}`, rawOnly: false };
    case 'unknown-id':
      return { path: `/s/${rng.pick(['nosuch-000000000000', 'a', '0', 'z'.repeat(63)])}/mcp`, rawOnly: false };
    case 'upper-id':
      return { path: `/s/${id.toUpperCase()}/mcp`, rawOnly: false };
    case 'traversal':
      return { path: rng.pick(['/s/..%2F..%2Fetc/mcp', '/s/%2e%2e/mcp', `/s/${id}%2Fmcp/mcp`, '/s/..%5c..%5cwin/mcp', `/s/./mcp`, `/s/${id}/../${id}/mcp`]), rawOnly: false };
    case 'encoded-id':
      return { path: `/s/${[...id].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}/mcp`, rawOnly: false };
    case 'malformed-percent':
      return { path: rng.pick(['/s/%E0%A4%A/mcp', '/s/%/mcp', `/s/${id}%ZZ/mcp`, '/s/%C0%AF/mcp', '/s/%ED%A0%80/mcp']), rawOnly: false };
    case 'long':
      return { path: `${base}?${'p'.repeat(rng.pick([5000, 20_000]))}`, rawOnly: false };
    case 'long-id':
      return { path: `/s/${'a'.repeat(rng.pick([64, 200, 5000]))}/mcp`, rawOnly: false };
    case 'extra-segment':
      return { path: rng.pick([`${base}/x`, `/s/${id}/mcp/mcp`, `/s/${id}/api`, `/s//mcp`]), rawOnly: false };
    case 'double-slash':
      return { path: `/${base}`, rawOnly: false };
    case 'nul':
      return { path: `/s/${id}%00/mcp`, rawOnly: false };
    case 'unicode':
      return { path: `/s/${id}é/mcp`, rawOnly: true };
    case 'no-s':
      return { path: rng.pick(['/mcp', `/${id}/mcp`, '/s/mcp', '/s/']), rawOnly: false };
    default:
      return { path: `${base}#frag`, rawOnly: true };
  }
}

function legacyPath(rng: Rng, id: string, m: string, features: string[]): string {
  if (m === 'GET' || (m !== 'POST' && rng.chance(0.5))) {
    features.push('legacy:sse');
    return rng.chance(0.9) ? `/s/${id}/sse` : `/s/${id}/sse/?x=1`;
  }
  const sid = rng.weighted<string>([
    [70, LEGACY_SID],
    [10, 'nosuchsession'],
    [5, ''],
    [5, `${LEGACY_SID}&sessionId=other`],
    [5, '%ZZ'],
    [5, 'none'],
  ]);
  if (sid !== LEGACY_SID) features.push(`legacy:sid-${sid === '' ? 'empty' : sid.slice(0, 12)}`);
  features.push('legacy:message');
  return sid === 'none' ? `/s/${id}/message` : `/s/${id}/message?sessionId=${sid}`;
}

function session(rng: Rng, m: string, features: string[]): SessionChoice {
  // An initialize needs no session; everything else mostly uses a live one.
  const v = rng.weighted<SessionChoice>([
    [m === 'POST' ? 70 : 60, 'own'],
    [10, 'other'],
    [6, 'none'],
    [5, 'random'],
    [2, 'empty'],
    [1, 'long'],
    [0.5, 'huge'],
    [1, 'nonascii'],
    [1.5, 'padded'],
    [1, 'twice'],
  ]);
  if (v !== 'own') features.push(`session:${v}`);
  return v;
}

// ---------------------------------------------------------------- the case

export function generateCase(seed: number, index: number, ctx: CaseContext): FuzzCase {
  const rng = caseRng(seed, index);
  const features: string[] = [];
  const target: Target = rng.chance(0.06) ? 'isolated' : 'shared';
  const flavor = rng.weighted<Flavor>([
    [76, 'session'],
    [16, 'stateless'],
    [8, 'legacy'],
  ]);
  if (flavor !== 'session') features.push(`flavor:${flavor}`);
  const g: Gen = { rng, tag: caseTag(index), features, slowMs: 0, initialize: false, target, nextId: 1, flavor, streaming: false };

  let m = method(rng);
  if (flavor === 'legacy' && m !== 'POST' && m !== 'RAW-ODD' && rng.chance(0.6)) m = 'GET';
  let wire: Wire = rng.chance(0.025) ? 'raw' : 'pool';
  if (m === 'RAW-ODD') {
    m = rng.pick(['FOO', 'TRACE', 'post', 'PROPFIND', 'M-SEARCH', 'CONNECT']);
    wire = 'raw';
    features.push(`method:${m}`);
  } else if (m !== 'POST') features.push(`method:${m}`);

  const gen = rng.weighted<string>([
    [52, 'struct'],
    [16, 'valid'],
    [9, 'json'],
    [5, 'bytes'],
    [13, 'damaged'],
    [5, 'special'],
  ]);
  let body: Buffer | null;
  switch (gen) {
    case 'struct':
      body = Buffer.from(structBody(g, true));
      break;
    case 'valid':
      body = Buffer.from(structBody(g, false));
      break;
    case 'json':
      body = Buffer.from(writeJson(randomJson(rng, 4, g.tag)));
      break;
    case 'bytes':
      body = rng.bytes(rng.size(2000));
      break;
    case 'damaged': {
      body = Buffer.from(structBody(g, rng.chance(0.3)));
      const times = rng.range(1, 2);
      for (let i = 0; i < times; i++) body = damage(rng, body, features);
      break;
    }
    default:
      body = specialBody(g, ctx);
  }
  // Bodies on GET/DELETE/… are unusual; send one sometimes.
  if (m !== 'POST' && rng.chance(0.7)) body = null;

  const p = flavor === 'legacy' && rng.chance(0.9) ? { path: legacyPath(rng, ctx.ids[target], m, features), rawOnly: false } : path(rng, ctx.ids[target], features);
  if (p.rawOnly) wire = 'raw';
  if (features.includes('legacy:sse')) g.streaming = true;

  const headers: [string, string][] = [];
  const ct = contentType(rng, features);
  if (ct !== null && (m === 'POST' || rng.chance(0.3))) headers.push(['content-type', ct]);
  const acc = accept(rng, features);
  if (acc !== null) headers.push(['accept', m === 'GET' && acc === MCP_ACCEPT && rng.chance(0.5) ? 'text/event-stream' : acc]);
  const ver = protocolVersion(rng, features, flavor);
  if (ver !== null) headers.push(['mcp-protocol-version', ver]);
  if (flavor === 'stateless') headers.push(...standardHeaders(rng, body, features));
  if (rng.chance(0.015)) {
    const origin = rng.pick(['http://evil.example', 'null', 'http://localhost:5173', 'http://127.0.0.1:1', 'file://', '']);
    headers.push(['origin', origin]);
    features.push(`origin:${origin}`);
  }
  if (rng.chance(0.02)) {
    const name = rng.pick(['x-forwarded-host', 'x-junk', 'last-event-id', 'cookie', 'authorization']);
    headers.push([name, rng.pick(['evil.example', 'x'.repeat(2000), '1', 'Bearer zzz', 'Bearer brt_' + 'Q'.repeat(43), ''])]);
    features.push(name === 'authorization' ? 'auth:bad' : 'header:extra');
  } else if (ctx.token && rng.chance(0.1)) {
    headers.push(['authorization', `Bearer ${ctx.token}`]);
    features.push('auth:token');
  }

  const sess = flavor === 'stateless' && rng.chance(0.85) ? 'none' : flavor === 'legacy' ? (rng.chance(0.8) ? 'none' : session(rng, m, features)) : session(rng, m, features);
  const sessionNoise = rng.bytes(18).toString('base64url');
  if (sess === 'nonascii' || sess === 'twice') wire = 'raw';

  const raw: RawTweaks = {};
  if (wire === 'raw') {
    features.push('wire:raw');
    if (rng.chance(0.4)) {
      raw.contentLength = rng.pick(['short', 'long', 'bad', 'double', 'none'] as const);
      features.push(`cl:${raw.contentLength}`);
    }
    if (rng.chance(0.1)) {
      raw.host = rng.pick([null, 'evil.example', 'localhost', '[::1]:80', '127.0.0.1:1', 'a b', '']);
      features.push(`host:${String(raw.host)}`);
    }
    if (rng.chance(0.1)) {
      raw.chunked = true;
      features.push('chunked');
    }
    if (rng.chance(0.1)) {
      raw.junkHeader = rng.pick(['NoColonHere', ' leading-space: x', 'Bad Name: x', 'x-obs: a\r\n folded', 'x-ctl: a\u0001b', ': empty-name']);
      features.push('header:junk');
    }
    if (rng.chance(0.1)) raw.httpVersion = 'HTTP/1.0';
  }

  return {
    index,
    gen,
    features,
    target,
    method: m,
    path: p.path,
    headers,
    session: sess,
    sessionNoise,
    body,
    wire,
    raw,
    slowMs: g.slowMs,
    initialize: g.initialize,
    streaming: g.streaming || (body !== null && body.length < 20_000 && body.includes('subscriptions/listen')),
    flavor,
  };
}

/** A one-screen description of a case for failure reports (values shortened). */
export function describeCase(c: FuzzCase, sessionHeader: string[] | null, seed: number): string {
  const short = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);
  const lines = [
    `case #${c.index} gen=${c.gen} target=${c.target} wire=${c.wire} features=[${c.features.join(', ')}]`,
    `  ${c.method} ${short(c.path, 300)}`,
    ...c.headers.map(([k, v]) => `  ${k}: ${JSON.stringify(short(v, 200))}`),
    `  mcp-session-id (${c.session}): ${sessionHeader === null ? '(none)' : sessionHeader.map((s) => JSON.stringify(short(s, 80))).join(' + ')}`,
  ];
  if (Object.keys(c.raw).length > 0) lines.push(`  raw tweaks: ${JSON.stringify(c.raw)}`);
  if (c.body === null) lines.push('  body: (none)');
  else lines.push(`  body (${c.body.length} bytes, latin1 view): ${JSON.stringify(short(c.body.toString('latin1'), 1500))}`);
  lines.push(`  replay: FUZZ_SEED=${seed} FUZZ_ONLY=${c.index} npx vitest run test/fuzz`);
  return lines.join('\n');
}
