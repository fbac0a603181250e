/**
 * Oracles for one gateway answer: allowed HTTP status, JSON-RPC error bodies, valid JSON-RPC
 * messages in 200 answers (plain JSON or SSE), ids and progress tokens that belong to the request,
 * and no tag from another request or session.
 */

/** HTTP statuses Berth (or Node's HTTP parser in front of it) may answer a fuzz request with. */
export const ALLOWED_STATUS = new Set([200, 202, 204, 400, 401, 403, 404, 405, 406, 413, 415, 429, 431, 503]);

/** The gateway's own routes (as in src/gateway/gateway.ts): paths that must answer in JSON-RPC. */
const PATH_ROUTE = /^\/s\/([^/]*)\/(mcp|sse|message)\/?$/;

const TAG = /@@t:([A-Za-z0-9_-]+)@@/g;

export function tagsIn(text: string, into = new Set<string>()): Set<string> {
  for (const m of text.matchAll(TAG)) into.add(m[1] as string);
  return into;
}

/** Strings (keys and values) of a parsed JSON value, without recursion (values can be 1M deep). */
function stringsOf(v: unknown, visit: (s: string) => void): void {
  const stack: unknown[] = [v];
  let budget = 200_000;
  while (stack.length > 0 && budget-- > 0) {
    const x = stack.pop();
    if (typeof x === 'string') visit(x);
    else if (Array.isArray(x)) for (const y of x) stack.push(y);
    else if (x !== null && typeof x === 'object') {
      for (const [k, y] of Object.entries(x)) {
        visit(k);
        stack.push(y);
      }
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isId(v: unknown): v is string | number {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

function idKey(v: unknown): string {
  return typeof v === 'number' ? `n:${v}` : `s:${String(v)}`;
}

/** What a request body asked for, as far as the oracles care. */
export interface RequestFacts {
  /** The body parsed as JSON. */
  json: boolean;
  batch: boolean;
  /** Ids of well-formed requests (by idKey), with how often each occurs. */
  requestIds: Map<string, number>;
  requests: number;
  /** Methods of the well-formed requests, in order. */
  methods: string[];
  progressTokens: Set<string>;
  tags: Set<string>;
  /** Too deep or too large to parse cheaply here: id and token checks are skipped. */
  opaque: boolean;
}

/** Deepest bracket nesting of a JSON text (strings skipped); stops counting past `limit`. */
export function nestingDepth(body: Buffer, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const b = body[i];
    if (inString) {
      if (b === 0x5c) i++;
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return max;
}

/** Mirrors the transport's idea of a request closely enough to bound what may come back. */
function looksLikeRequest(m: unknown): m is Record<string, unknown> {
  return isObject(m) && m.jsonrpc === '2.0' && typeof m.method === 'string' && isId(m.id);
}

export function analyzeRequest(body: Buffer | null): RequestFacts {
  const facts: RequestFacts = { json: false, batch: false, requestIds: new Map(), requests: 0, methods: [], progressTokens: new Set(), tags: new Set(), opaque: false };
  if (body === null || body.length === 0) return facts;
  // Tags are ASCII: they read the same in any decoding of the bytes.
  const text = body.toString('utf8');
  tagsIn(text, facts.tags);
  if (body.length > 1024 * 1024 || (body.length > 6000 && nestingDepth(body, 3000) > 3000)) {
    facts.opaque = true;
    return facts;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return facts;
  }
  facts.json = true;
  // A tag hidden behind \u escapes in the request comes back in plain text.
  if (text.includes('\\u')) {
    stringsOf(parsed, (s) => {
      if (s.includes('@@t:')) tagsIn(s, facts.tags);
    });
  }
  facts.batch = Array.isArray(parsed);
  const msgs = facts.batch ? (parsed as unknown[]) : [parsed];
  for (const m of msgs) {
    if (!looksLikeRequest(m)) continue;
    facts.requests++;
    facts.methods.push(m.method as string);
    const k = idKey(m.id);
    facts.requestIds.set(k, (facts.requestIds.get(k) ?? 0) + 1);
    const meta = isObject(m.params) ? m.params._meta : undefined;
    if (isObject(meta) && (typeof meta.progressToken === 'string' || typeof meta.progressToken === 'number')) facts.progressTokens.add(idKey(meta.progressToken));
  }
  return facts;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body was cut short on purpose (a GET stream we stopped reading, or the size cap). */
  cut: boolean;
}

export interface Verdict {
  /** Histogram key, e.g. `400 -32700 INVALID_JSON` or `200 json`. */
  key: string;
  problems: string[];
}

function header(a: Answer, name: string): string {
  const v = a.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

/** Every event of an SSE body that carries data (events separated by blank lines), with its `event:` name. */
export function sseEvents(text: string): { event: string; data: string }[] {
  const out: { event: string; data: string }[] = [];
  for (const block of text.split(/\r\n\r\n|\n\n|\r\r/)) {
    const data: string[] = [];
    let event = 'message';
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      else if (line.startsWith('event:')) event = line.slice(6).trim();
    }
    // An event with empty data is a priming event (2025-11-25: an id for Last-Event-ID, no message).
    if (data.length > 0 && !(data.length === 1 && data[0] === '')) out.push({ event, data: data.join('\n') });
  }
  return out;
}

/** Every `data:` payload of an SSE body. */
export function sseData(text: string): string[] {
  return sseEvents(text).map((e) => e.data);
}

function checkErrorObject(v: unknown, where: string, problems: string[]): { code?: number; dataCode?: string } {
  if (!isObject(v) || v.jsonrpc !== '2.0' || !isObject(v.error)) {
    problems.push(`${where}: not a JSON-RPC error object`);
    return {};
  }
  const e = v.error;
  if (typeof e.code !== 'number' || !Number.isInteger(e.code)) problems.push(`${where}: error.code is not an integer`);
  if (typeof e.message !== 'string') problems.push(`${where}: error.message is not a string`);
  if (!('id' in v) || !(v.id === null || isId(v.id))) problems.push(`${where}: id is missing or not string/number/null`);
  const dataCode = isObject(e.data) && typeof e.data.code === 'string' ? e.data.code : undefined;
  return { code: typeof e.code === 'number' ? e.code : undefined, dataCode };
}

/** A server→client message inside a 200 answer. */
function checkMessage(m: unknown, facts: RequestFacts, where: string, problems: string[], seen: Map<string, number>): void {
  if (!isObject(m) || m.jsonrpc !== '2.0') {
    problems.push(`${where}: not a JSON-RPC 2.0 message: ${JSON.stringify(m)?.slice(0, 200)}`);
    return;
  }
  if ('result' in m || 'error' in m) {
    if ('result' in m && 'error' in m) problems.push(`${where}: both result and error`);
    if ('error' in m) checkErrorObject(m, where, problems);
    if (!isId(m.id) && !('error' in m && m.id === null)) {
      problems.push(`${where}: response id ${JSON.stringify(m.id)} is not a valid id`);
      return;
    }
    if (m.id === null) return;
    const k = idKey(m.id);
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    const asked = facts.requestIds.get(k) ?? 0;
    if (n > asked && !facts.opaque) problems.push(`${where}: response id ${JSON.stringify(m.id)} was not asked for (or answered ${n} times for ${asked} requests)`);
    return;
  }
  if (typeof m.method !== 'string') {
    problems.push(`${where}: neither response nor request/notification`);
    return;
  }
  if (m.method === 'notifications/progress') {
    const t = isObject(m.params) ? m.params.progressToken : undefined;
    if (!facts.opaque && (!(typeof t === 'string' || typeof t === 'number') || !facts.progressTokens.has(idKey(t)))) {
      problems.push(`${where}: progress for token ${JSON.stringify(t)} that this request did not send`);
    }
  }
}

export interface CheckInput {
  method: string;
  path: string;
  /** What the request asked for (computed on first use: most answers never need it). */
  facts: () => RequestFacts;
  answer: Answer;
  /** The answer came over a raw socket where framing was damaged on purpose. */
  lenient: boolean;
  /** The case sent an Origin or Host the guard refuses. */
  guarded: boolean;
  /**
   * A 401 is wrong for this request: it sent no bad credential and addressed one of the (public) fuzz
   * deployments. Anything else (an unknown id, a bad Authorization header) may be refused as unauthenticated.
   */
  anonymousOk?: boolean;
  /** Extra tags the answer may carry (none for fuzz cases). */
  allowTags?: Set<string>;
}

/** Check one answer; returns the histogram key and any oracle violations. */
export function checkAnswer(inp: CheckInput): Verdict {
  const { answer: a } = inp;
  const problems: string[] = [];
  const routeMatch = PATH_ROUTE.exec(inp.path.split('?')[0] ?? '');
  const route = routeMatch !== null;
  const legacy = routeMatch?.[2] === 'sse' || routeMatch?.[2] === 'message';
  if (!ALLOWED_STATUS.has(a.status)) problems.push(`HTTP status ${a.status} is not in the allowed set`);
  const text = a.body.toString('utf8');
  const ct = header(a, 'content-type').toLowerCase();

  // No answer may carry another request's (or session's) tag.
  for (const t of tagsIn(text)) {
    if (!inp.facts().tags.has(t) && !inp.allowTags?.has(t)) problems.push(`answer carries foreign tag @@t:${t}@@ (not in this request)`);
  }

  if (a.status >= 400) {
    if (a.body.length === 0 || inp.method === 'HEAD') return { key: `${a.status} (no body)`, problems };
    if (!ct.startsWith('application/json')) problems.push(`error answer with content-type ${JSON.stringify(ct)}`);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      problems.push(`error answer body is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
      return { key: `${a.status} (bad body)`, problems };
    }
    if (!route) {
      // Not an MCP endpoint: the REST API's error shape.
      const e = isObject(v) && isObject(v.error) ? v.error : null;
      if (!e || typeof e.code !== 'string' || typeof e.message !== 'string') problems.push(`non-MCP path error is not {error:{code,message}}: ${text.slice(0, 200)}`);
      return { key: `${a.status} rest ${String(e?.code)}`, problems };
    }
    const { code, dataCode } = checkErrorObject(v, 'error answer', problems);
    if (a.status === 403 && !inp.guarded) problems.push('403 without a foreign Origin/Host');
    if (a.status === 401 && inp.anonymousOk) problems.push('401 for a request a public deployment must take without a token');
    return { key: `${a.status} ${String(code)} ${dataCode ?? '-'}`, problems };
  }

  if (a.status === 202 || a.status === 204) {
    if (a.body.length > 0 && !(legacy && a.status === 202)) problems.push(`${a.status} with a body`);
    if (a.status === 202 && inp.method !== 'POST') problems.push(`202 for ${inp.method}`);
    if (a.status === 204 && inp.method !== 'DELETE') problems.push(`204 for ${inp.method}`);
    return { key: `${a.status}`, problems };
  }

  if (a.status !== 200) return { key: `${a.status}`, problems };
  if (!route) {
    return { key: '200 non-mcp', problems };
  }
  if (inp.method === 'HEAD') return { key: '200 head', problems };
  const facts = inp.facts();
  const seen = new Map<string, number>();
  if (ct.startsWith('text/event-stream')) {
    if (inp.method === 'POST' && facts.requests === 0 && !facts.opaque) problems.push('SSE answer to a POST without requests');
    let n = 0;
    for (const { event, data: d } of sseEvents(text)) {
      n++;
      if (event === 'endpoint') {
        if (!legacy || !/^\/s\/[^/]+\/message\?sessionId=[A-Za-z0-9_%-]+$/.test(d)) problems.push(`unexpected endpoint event ${JSON.stringify(d.slice(0, 200))}`);
        continue;
      }
      let m: unknown;
      try {
        m = JSON.parse(d);
      } catch {
        if (a.cut && text.endsWith(d)) continue;
        problems.push(`SSE event is not JSON: ${JSON.stringify(d.slice(0, 200))}`);
        continue;
      }
      checkMessage(m, facts, `SSE event ${n}`, problems, seen);
    }
    return { key: `200 sse ${inp.method}${legacy ? ' legacy' : ''}`, problems };
  }
  if (!ct.startsWith('application/json')) {
    problems.push(`200 with content-type ${JSON.stringify(ct)}`);
    return { key: `200 ${ct}`, problems };
  }
  if (inp.method !== 'POST') problems.push(`200 JSON for ${inp.method}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    problems.push(`200 body is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
    return { key: '200 bad json', problems };
  }
  const list = Array.isArray(v) ? v : [v];
  if (Array.isArray(v) !== facts.batch && facts.requests > 0 && !inp.lenient && !facts.opaque) {
    if (facts.batch && facts.requests === 1 && facts.methods[0] === 'initialize') problems.push('a batch holding only an initialize request was answered with a single object, not an array');
    else problems.push(`batch request answered ${Array.isArray(v) ? 'with' : 'without'} an array`);
  }
  if (list.length === 0) problems.push('empty batch answer');
  let rpcErrors = '';
  for (const [i, m] of list.entries()) {
    checkMessage(m, facts, `message ${i}`, problems, seen);
    if (isObject(m) && isObject(m.error) && typeof m.error.code === 'number') rpcErrors = ` rpc-error ${m.error.code}`;
  }
  if (a.headers['mcp-session-id'] !== undefined && !list.some((m) => isObject(m) && 'result' in m)) problems.push('session id issued without a successful initialize result');
  return { key: `200 json${rpcErrors}`, problems };
}
