/**
 * "Honest" sessions: well-behaved raw MCP clients that keep calling tools while the fuzzer runs.
 * Every answer must be theirs: their ids, their echo text, their progress tokens, their tag only.
 */
import type { Pool } from 'undici';
import { MCP_ACCEPT, type Target } from './cases.js';
import { sseData, tagsIn } from './oracle.js';
import { Rng } from './prng.js';
import type { LegacyStream } from './sse-client.js';
import { sendPool } from './wire.js';

/** streamable: 2025-11-25 with Mcp-Session-Id; stateless: 2026-07-28 per-request envelope; legacy: HTTP+SSE. */
export type HonestKind = 'streamable' | 'stateless' | 'legacy';

export interface HonestSession {
  k: number;
  target: Target;
  kind: HonestKind;
  /** `/s/ID/mcp` */
  path: string;
  sessionId: string | null;
  legacy: LegacyStream | null;
  /** Pause between calls. */
  intervalMs: number;
  /** Tag of the call in progress (legacy stream watcher). */
  current?: string;
}

export const MODERN = '2026-07-28';
export const ENVELOPE = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': {} };

/** Legacy stream watcher for an honest session: only its own tags may appear. */
export function honestWatch(s: HonestSession): (m: unknown, raw: string) => string | null {
  return (_m, raw) => {
    for (const t of tagsIn(raw)) if (!t.startsWith(`h${s.k}x`)) return `honest legacy session #${s.k} got a message with foreign tag @@t:${t}@@: ${raw.slice(0, 300)}`;
    return null;
  };
}

/** Initialize over the legacy transport: POST to the message URL, answer on the stream. */
export async function legacyInitialize(pool: Pool, stream: LegacyStream, name: string): Promise<void> {
  const headers: [string, string][] = [['content-type', 'application/json']];
  const answer = stream.waitFor('init-0', 30_000);
  const r = await sendPool(pool, { method: 'POST', path: stream.messagePath, headers, body: Buffer.from(INIT(name).replace('"id":0', '"id":"init-0"')), streamMs: 0, deadlineMs: 30_000 });
  if (!r.ok || r.answers[0]!.status !== 202) throw new Error(`legacy initialize POST: ${r.ok ? r.answers[0]!.status : r.error}`);
  const m = await answer;
  if (!('result' in m)) throw new Error(`legacy initialize failed: ${JSON.stringify(m).slice(0, 300)}`);
  await sendPool(pool, { method: 'POST', path: stream.messagePath, headers, body: Buffer.from('{"jsonrpc":"2.0","method":"notifications/initialized"}'), streamMs: 0, deadlineMs: 30_000 });
}

export interface HonestStats {
  calls: number;
  byOp: Record<string, number>;
  failures: string[];
  failureCount: number;
  /** Failures that match a known open bug (reported, not failed on), with the first example. */
  knownCount: number;
  knownExample: string | null;
}

const INIT = (name: string): string =>
  JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name, version: '1.0.0' } } });

/** Initialize a session over plain HTTP and send notifications/initialized; returns the session id. */
export async function openSession(pool: Pool, path: string, name: string): Promise<string> {
  const base: [string, string][] = [
    ['content-type', 'application/json'],
    ['accept', MCP_ACCEPT],
  ];
  const r = await sendPool(pool, { method: 'POST', path, headers: base, body: Buffer.from(INIT(name)), streamMs: 0, deadlineMs: 30_000 });
  if (!r.ok) throw new Error(`initialize on ${path} failed: ${r.error}`);
  const a = r.answers[0]!;
  const sid = a.headers['mcp-session-id'];
  if (a.status !== 200 || typeof sid !== 'string') throw new Error(`initialize on ${path}: ${a.status} ${a.body.toString().slice(0, 300)}`);
  const note = await sendPool(pool, {
    method: 'POST',
    path,
    headers: [...base, ['mcp-session-id', sid], ['mcp-protocol-version', '2025-11-25']],
    body: Buffer.from('{"jsonrpc":"2.0","method":"notifications/initialized"}'),
    streamMs: 0,
    deadlineMs: 30_000,
  });
  if (!note.ok || note.answers[0]!.status !== 202) throw new Error(`notifications/initialized on ${path} was not accepted`);
  return sid;
}

interface Expect {
  /** idKey → exact text of the echo (or the slow tool's answer). */
  results: Map<string, string>;
  progressToken: string | null;
  tag: string;
}

const idKey = (v: unknown): string => (typeof v === 'number' ? `n:${v}` : `s:${String(v)}`);

function checkHonest(status: number, ct: string, text: string, exp: Expect): string | null {
  if (status !== 200) return `HTTP ${status}: ${text.slice(0, 300)}`;
  for (const t of tagsIn(text)) if (`@@t:${t}@@` !== exp.tag) return `foreign tag @@t:${t}@@ in the answer`;
  let msgs: unknown[];
  try {
    if (ct.startsWith('text/event-stream')) msgs = sseData(text).map((d) => JSON.parse(d) as unknown);
    else {
      const v = JSON.parse(text) as unknown;
      msgs = Array.isArray(v) ? v : [v];
    }
  } catch {
    return `unparseable ${ct} answer: ${text.slice(0, 300)}`;
  }
  const pending = new Map(exp.results);
  for (const m of msgs) {
    const o = m as { id?: unknown; method?: string; params?: { progressToken?: unknown }; result?: { content?: { text?: string }[] }; error?: unknown };
    if (o.method === 'notifications/progress') {
      if (o.params?.progressToken !== exp.progressToken) return `progress for someone else's token ${JSON.stringify(o.params?.progressToken)}`;
      continue;
    }
    if (o.method !== undefined) return `unexpected message ${JSON.stringify(m).slice(0, 300)}`;
    const want = pending.get(idKey(o.id));
    if (want === undefined) return `answer for an id this request did not use: ${JSON.stringify(m).slice(0, 300)}`;
    pending.delete(idKey(o.id));
    if (o.error !== undefined) return `error answer: ${JSON.stringify(o.error).slice(0, 300)}`;
    const got = o.result?.content?.[0]?.text;
    if (got !== want) return `wrong result ${JSON.stringify(got)?.slice(0, 200)} (wanted ${JSON.stringify(want).slice(0, 200)})`;
  }
  if (pending.size > 0) return `no answer for ${[...pending.keys()].join(', ')}: HTTP ${status} ${ct} ${JSON.stringify(text.slice(0, 300))}`;
  return null;
}

const PAYLOADS = ['', 'ünïcödé ✓ 🚀', 'a\nb\tc', '"q" \\', '\u2028', '{"jsonrpc":"2.0","id":1}'];

/** One honest session's loop: runs until `stop()`, recording every failure. */
export async function honestLoop(
  pool: Pool,
  s: HonestSession,
  seed: number,
  stop: () => boolean,
  stats: HonestStats,
  isKnown: (failure: string) => boolean = () => false,
): Promise<void> {
  const rng = new Rng(seed ^ 0x484f4e, s.k);
  const headers: [string, string][] = [
    ['content-type', 'application/json'],
    ['accept', MCP_ACCEPT],
  ];
  if (s.kind === 'streamable') headers.push(['mcp-session-id', s.sessionId!], ['mcp-protocol-version', '2025-11-25']);
  if (s.kind === 'stateless') headers.push(['mcp-protocol-version', MODERN], ['mcp-method', 'tools/call']);
  for (let n = 1; !stop(); n++) {
    const tag = `@@t:h${s.k}x${n}@@`;
    s.current = tag;
    const op = rng.weighted<string>([
      [75, 'echo'],
      [s.kind === 'stateless' ? 0 : 12, 'batch'],
      [13, 'slow'],
    ]);
    const results = new Map<string, string>();
    let body: unknown;
    let progressToken: string | null = null;
    // Stateless clients number their requests from a small counter, as real ones do.
    const id = s.kind === 'stateless' ? rng.int(8) : rng.chance(0.5) ? n : `h${s.k}-${n}`;
    const text = `${tag} ${rng.pick(PAYLOADS)}`;
    const meta = s.kind === 'stateless' ? { ...ENVELOPE } : undefined;
    let toolName = 'echo';
    if (op === 'echo') {
      body = { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text }, ...(meta ? { _meta: meta } : {}) } };
      results.set(idKey(id), text);
    } else if (op === 'batch') {
      const id2 = `${tag}-b`;
      body = [
        { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text } } },
        { jsonrpc: '2.0', id: id2, method: 'tools/call', params: { name: 'echo', arguments: { text: `${text}-2` } } },
      ];
      results.set(idKey(id), text);
      results.set(idKey(id2), `${text}-2`);
    } else {
      progressToken = `${tag}-p`;
      toolName = 'slow';
      body = { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: { ms: 60, steps: 2 }, _meta: { ...meta, progressToken } } };
      results.set(idKey(id), 'slept 60');
    }
    const bytes = Buffer.from(JSON.stringify(body));
    let why: string | null;
    if (s.kind === 'legacy') why = await legacyCall(pool, s, bytes, results);
    else {
      const h: [string, string][] = s.kind === 'stateless' ? [...headers, ['mcp-name', toolName]] : headers;
      const r = await sendPool(pool, { method: 'POST', path: s.path, headers: h, body: bytes, streamMs: 0, deadlineMs: 10_000 });
      if (!r.ok) why = `${r.error} after ${Math.round(r.ms)} ms`;
      else {
        const a = r.answers[0]!;
        why = checkHonest(a.status, String(a.headers['content-type'] ?? ''), a.body.toString('utf8'), { results, progressToken, tag });
      }
    }
    stats.calls++;
    const key = `${s.target}/${s.kind}:${op}`;
    stats.byOp[key] = (stats.byOp[key] ?? 0) + 1;
    if (why !== null) {
      const failure = `honest ${s.target}/${s.kind} session #${s.k} call ${n} (${op}): ${why}\n  request: ${JSON.stringify(body).slice(0, 400)}`;
      if (isKnown(failure)) {
        stats.knownCount++;
        stats.knownExample ??= failure;
      } else {
        stats.failureCount++;
        if (stats.failures.length < 20) stats.failures.push(failure);
      }
    }
    await new Promise((res) => setTimeout(res, s.intervalMs));
  }
}

/** A call over the legacy transport: POST answered 202, the responses arrive on the stream. */
async function legacyCall(pool: Pool, s: HonestSession, body: Buffer, results: Map<string, string>): Promise<string | null> {
  const stream = s.legacy!;
  if (stream.closed) return 'the legacy SSE stream closed';
  const answers = [...results.keys()].map((k) => stream.waitFor(k.startsWith('n:') ? Number(k.slice(2)) : k.slice(2), 10_000));
  const r = await sendPool(pool, { method: 'POST', path: stream.messagePath, headers: [['content-type', 'application/json']], body, streamMs: 0, deadlineMs: 10_000 });
  if (!r.ok || r.answers[0]!.status !== 202) {
    answers.forEach((p) => p.catch(() => {}));
    return `POST to the message URL: ${r.ok ? `${r.answers[0]!.status} ${r.answers[0]!.body.toString().slice(0, 200)}` : r.error}`;
  }
  try {
    for (const m of await Promise.all(answers)) {
      const o = m as { id?: unknown; error?: unknown; result?: { content?: { text?: string }[] } };
      if (o.error !== undefined) return `error answer: ${JSON.stringify(o.error).slice(0, 300)}`;
      const want = results.get(idKey(o.id));
      const got = o.result?.content?.[0]?.text;
      if (got !== want) return `wrong result ${JSON.stringify(got)?.slice(0, 200)} (wanted ${JSON.stringify(want)?.slice(0, 200)})`;
    }
  } catch (err) {
    return (err as Error).message;
  }
  return null;
}
