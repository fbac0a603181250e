/**
 * The fuzz loop: generates cases, resolves their session ids against live sessions, sends them at
 * high concurrency, checks every answer, and keeps only counters and the first few failures.
 */
import type { Pool } from 'undici';
import { describeCase, generateCase, LEGACY_SID, MCP_ACCEPT, type CaseContext, type FuzzCase, type Target } from './cases.js';
import { analyzeRequest, checkAnswer, type RequestFacts } from './oracle.js';
import { Rng } from './prng.js';
import { rawRequestBytes, sendPool, sendRaw, type WireRequest, type WireResult } from './wire.js';

export interface RunOptions {
  seed: number;
  /** Cases to run (cases left out as known bugs do not count). */
  cases: number;
  /** Run exactly these case indexes instead (replay). */
  only: number[] | null;
  concurrency: number;
  /** A case still running after this long frees its slot (it keeps running, up to maxLinger of them). */
  lingerMs: number;
  maxLinger: number;
  timeLimitMs: number;
  /** Cases with any of these features are not sent (open bugs with their own regression test). */
  exclude: string[];
  ctx: CaseContext;
  port: number;
  pool: Pool;
  /** Sessions created by initialize on the isolated deployment each cost a process: at most this many. */
  isolatedInitBudget: number;
  /** Latency bound for an answer (plus the case's own `slow` time). */
  boundMs: number;
  /** Session id of the fuzzer's own legacy (HTTP+SSE) stream on the shared deployment, if open. */
  legacySid(): string | null;
  /** Violations matching these are open bugs with their own regression test: counted, not failed on. */
  knownProblems: RegExp[];
  alive(): boolean;
  log(line: string): void;
}

export interface RunReport {
  executed: number;
  skipped: number;
  housekeeping: number;
  rawFallbacks: number;
  answers: number;
  histogram: Map<string, number>;
  violationCount: number;
  violationKinds: Map<string, number>;
  examples: string[];
  /** For each kind of connection closed without a usable answer (tolerated), the first example. */
  closedExamples: Map<string, string>;
  /** Violations that match a known open bug (not counted above), with one example each. */
  known: Map<string, { count: number; example: string }>;
  crash: string | null;
  stoppedEarly: string | null;
  elapsedMs: number;
  /** The slowest answers (ms, case summary), slowest first. */
  slowest: { ms: number; what: string }[];
  isolatedInits: number;
  /** Answer times: count per bucket (upper bound in ms). */
  latency: Map<number, number>;
  /** Connections the pool opened (Berth closes some on purpose: 431, parse errors). */
  poolConnects: number;
}

const LATENCY_BUCKETS = [5, 20, 100, 500, 2000, 5000, Infinity];

const MAX_EXAMPLES = 12;
const SHARED_OWN_CAP = 2;
const ISOLATED_CAP = 3;

/** Live fuzz sessions (never the honest ones). */
class SessionBook {
  private readonly own = new Map<string, string[]>();
  readonly all: Record<Target, string[]> = { shared: [], isolated: [] };

  key(worker: number, target: Target): string {
    return target === 'isolated' ? 'isolated' : `${worker}`;
  }

  list(worker: number, target: Target): string[] {
    const k = this.key(worker, target);
    let l = this.own.get(k);
    if (!l) this.own.set(k, (l = []));
    return l;
  }

  /** Adds a session; returns the one to delete when over the cap. */
  add(worker: number, target: Target, sid: string): string | null {
    const l = this.list(worker, target);
    l.push(sid);
    this.all[target].push(sid);
    if (l.length > (target === 'isolated' ? ISOLATED_CAP : SHARED_OWN_CAP)) {
      const old = l.shift()!;
      this.forget(target, old);
      return old;
    }
    return null;
  }

  forget(target: Target, sid: string): void {
    const a = this.all[target];
    const i = a.indexOf(sid);
    if (i !== -1) a.splice(i, 1);
    for (const l of this.own.values()) {
      const j = l.indexOf(sid);
      if (j !== -1) l.splice(j, 1);
    }
  }

  targetOf(sid: string): Target | null {
    if (this.all.shared.includes(sid)) return 'shared';
    if (this.all.isolated.includes(sid)) return 'isolated';
    return null;
  }
}

const INIT_BODY = (name: string): Buffer =>
  Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name, version: '1' } } }));

export async function runFuzz(o: RunOptions): Promise<RunReport> {
  const report: RunReport = {
    executed: 0,
    skipped: 0,
    housekeeping: 0,
    rawFallbacks: 0,
    answers: 0,
    histogram: new Map(),
    violationCount: 0,
    violationKinds: new Map(),
    examples: [],
    known: new Map(),
    closedExamples: new Map(),
    crash: null,
    stoppedEarly: null,
    elapsedMs: 0,
    slowest: [],
    isolatedInits: 0,
    latency: new Map(LATENCY_BUCKETS.map((b) => [b, 0])),
    poolConnects: 0,
  };
  const book = new SessionBook();
  const paths: Record<Target, string> = { shared: `/s/${o.ctx.ids.shared}/mcp`, isolated: `/s/${o.ctx.ids.isolated}/mcp` };
  const inFlight = new Map<number, string>();
  const t0 = performance.now();
  let stop = false;

  const baseHeaders = (sid: string | null): [string, string][] => {
    const h: [string, string][] = [
      ['content-type', 'application/json'],
      ['accept', MCP_ACCEPT],
    ];
    if (sid !== null) h.push(['mcp-session-id', sid]);
    return h;
  };

  /** A session for housekeeping (not a fuzz case): initialize, then notifications/initialized. */
  async function createSession(worker: number, target: Target): Promise<string | null> {
    if (target === 'isolated') {
      if (report.isolatedInits >= o.isolatedInitBudget) return null;
      report.isolatedInits++;
    }
    report.housekeeping++;
    const r = await sendPool(o.pool, { method: 'POST', path: paths[target], headers: baseHeaders(null), body: INIT_BODY(`fuzz-w${worker}`), streamMs: 0, deadlineMs: 30_000 });
    if (!r.ok) return null;
    const a = r.answers[0]!;
    const sid = a.headers['mcp-session-id'];
    if (a.status !== 200 || typeof sid !== 'string') return null;
    const drop = book.add(worker, target, sid);
    if (drop) await deleteSession(target, drop);
    return sid;
  }

  async function deleteSession(target: Target, sid: string): Promise<void> {
    report.housekeeping++;
    await sendPool(o.pool, { method: 'DELETE', path: paths[target], headers: baseHeaders(sid), body: null, streamMs: 0, deadlineMs: 30_000 });
  }

  function violation(kind: string, detail: string, c: FuzzCase, sessionValues: string[] | null): void {
    const known = o.knownProblems.find((re) => re.test(detail));
    if (known) {
      const k = report.known.get(known.source);
      if (k) k.count++;
      else report.known.set(known.source, { count: 1, example: `${detail}\n${describeCase(c, sessionValues, o.seed)}` });
      return;
    }
    report.violationCount++;
    report.violationKinds.set(kind, (report.violationKinds.get(kind) ?? 0) + 1);
    if (report.examples.length < MAX_EXAMPLES) {
      const text = `${kind}: ${detail}\n${describeCase(c, sessionValues, o.seed)}`;
      report.examples.push(text);
      o.log(`\n!!! fuzz violation (seed ${o.seed}): ${text}\n`);
    }
  }

  async function resolveSession(c: FuzzCase, worker: number, rng: Rng): Promise<string[] | null> {
    const ownOrOther = async (): Promise<string | null> => {
      const l = book.list(worker, c.target);
      if (l.length > 0) return rng.pick(l);
      const made = await createSession(worker, c.target);
      if (made !== null) return made;
      const any = book.all[c.target];
      return any.length > 0 ? rng.pick(any) : null;
    };
    switch (c.session) {
      case 'none':
        return null;
      case 'own':
      case 'padded': {
        const sid = await ownOrOther();
        if (sid === null) return [c.sessionNoise];
        return [c.session === 'padded' ? `  ${sid} ` : sid];
      }
      case 'other': {
        const any = book.all[rng.chance(0.8) ? c.target : c.target === 'shared' ? 'isolated' : 'shared'];
        if (any.length > 0) return [rng.pick(any)];
        return [(await ownOrOther()) ?? c.sessionNoise];
      }
      case 'random':
        return [c.sessionNoise];
      case 'empty':
        return [''];
      case 'long':
        return ['L'.repeat(6000)];
      case 'huge':
        return ['H'.repeat(40_000)];
      case 'nonascii':
        return [`s\u00e9ss\u00efon-${c.sessionNoise}-\u00ff`];
      case 'twice':
        return [(await ownOrOther()) ?? c.sessionNoise, c.sessionNoise];
    }
  }

  async function send(c: FuzzCase, req: WireRequest, sessionValues: string[] | null): Promise<WireResult> {
    const sessionLines = (sessionValues ?? []).map((v) => `Mcp-Session-Id: ${v}`);
    const viaRaw = (): Promise<WireResult> => {
      const bytes = rawRequestBytes(req, `127.0.0.1:${o.port}`, c.raw, sessionLines);
      return sendRaw(o.port, bytes, req, c.raw.contentLength === 'long');
    };
    if (c.wire === 'raw') return viaRaw();
    const withSession: WireRequest = { ...req, headers: [...req.headers, ...(sessionValues ?? []).map((v): [string, string] => ['mcp-session-id', v])] };
    const r = await sendPool(o.pool, withSession);
    if (!r.ok && /InvalidArgument|NotSupported|InvalidHeader/.test(r.error)) {
      report.rawFallbacks++;
      c.features.push('wire:raw-fallback');
      return viaRaw();
    }
    return r;
  }

  async function runCase(c: FuzzCase): Promise<void> {
    const worker = c.index % 64;
    const rng = new Rng(o.seed ^ 0x5e55, c.index);
    // Isolated initializes (and stateless calls) cost a process each: past the budget they go to the shared deployment.
    if (c.target === 'isolated' && (c.initialize || (c.flavor === 'stateless' && c.session === 'none'))) {
      if (report.isolatedInits >= o.isolatedInitBudget) {
        c.target = 'shared';
        c.path = c.path.replace(`/s/${o.ctx.ids.isolated}/`, `/s/${o.ctx.ids.shared}/`);
        c.features.push('redirected-to-shared');
      } else report.isolatedInits++;
    }
    const sessionValues = await resolveSession(c, worker, rng);
    if (c.path.includes(LEGACY_SID)) {
      const sid = c.target === 'shared' ? o.legacySid() : null;
      c.path = c.path.replace(LEGACY_SID, sid ?? 'nolegacysession');
    }
    inFlight.set(c.index, `#${c.index} ${c.method} ${c.path.slice(0, 80)} [${c.features.join(', ')}]`);
    const req: WireRequest = {
      method: c.method,
      path: c.path,
      headers: c.headers,
      body: c.body,
      streamMs: 60,
      endless: c.method === 'GET' || c.streaming,
      deadlineMs: o.boundMs + c.slowMs + 5_000,
    };
    let r: WireResult;
    try {
      r = await send(c, req, sessionValues);
    } finally {
      inFlight.delete(c.index);
    }
    report.executed++;
    const bucket = LATENCY_BUCKETS.find((b) => r.ms <= b)!;
    report.latency.set(bucket, (report.latency.get(bucket) ?? 0) + 1);
    if (report.slowest.length < 8 || r.ms > report.slowest[report.slowest.length - 1]!.ms) {
      report.slowest.push({ ms: r.ms, what: `#${c.index} ${c.target} ${c.method} ${c.gen} [${c.features.join(', ')}] ${c.slowMs ? `slow ${c.slowMs}ms` : ''}` });
      report.slowest.sort((a, b) => b.ms - a.ms);
      report.slowest.length = Math.min(report.slowest.length, 8);
    }

    const tolerant =
      c.wire === 'raw' && (c.raw.contentLength !== undefined || c.raw.junkHeader !== undefined || c.raw.host === 'a b' || c.method === 'CONNECT' || c.method === 'post' || c.session === 'nonascii');
    const oversizeHeaders = c.session === 'huge' || c.features.includes('path:long');
    if (!r.ok) {
      // A dying Berth resets connections a moment before its exit is noticed.
      if (!r.timedOut && o.alive()) await new Promise((res) => setTimeout(res, 300));
      if (!o.alive()) {
        if (report.crash === null) {
          const suspects = [c.index, ...inFlight.keys()];
          report.crash =
            `Berth exited while case #${c.index} was in flight (${r.error}); one of the cases in flight killed it.\n` +
            `replay them one by one: FUZZ_SEED=${o.seed} FUZZ_ONLY=<one of ${suspects.join(',')}> npx vitest run test/fuzz\n` +
            `${describeCase(c, sessionValues, o.seed)}\nother cases in flight:\n  ${[...inFlight.values()].join('\n  ')}`;
        }
        stop = true;
        return;
      }
      if (r.timedOut) violation('no answer in time', `${r.error} after ${Math.round(r.ms)} ms`, c, sessionValues);
      else if (tolerant || oversizeHeaders || c.wire === 'raw') {
        const key = `closed (${r.error.split(':')[0]})`;
        bump(report.histogram, key);
        if (!report.closedExamples.has(key)) report.closedExamples.set(key, `${r.error.slice(0, 300)} — case #${c.index} [${c.features.join(', ')}]`);
      }
      else violation('connection error', r.error, c, sessionValues);
      return;
    }
    if (r.answers.length === 0) {
      if (tolerant) bump(report.histogram, 'closed (no answer)');
      else violation('no answer', 'the connection closed without an HTTP response', c, sessionValues);
      return;
    }
    if (r.keptOpen) violation('kept the connection open', `HTTP ${r.answers[0]?.status} ${String(r.answers[0]?.headers['content-type'] ?? '')}: the server kept the connection open after answering a request with Connection: close`, c, sessionValues);
    let memo: RequestFacts | null = null;
    const facts = (): RequestFacts => (memo ??= analyzeRequest(c.body));
    const guarded = c.features.some((f) => f.startsWith('origin:') || f.startsWith('host:'));
    const anonymousOk = !c.features.includes('auth:bad') && Object.values(o.ctx.ids).some((id) => c.path.startsWith(`/s/${id}/`));
    for (const [i, a] of r.answers.entries()) {
      report.answers++;
      // Only the first answer on a raw socket is to our request; later ones are to the leftovers.
      const v = checkAnswer({ method: i === 0 ? c.method : 'POST', path: i === 0 ? c.path : '/', facts, answer: a, lenient: c.wire === 'raw', guarded, anonymousOk: i === 0 && anonymousOk });
      bump(report.histogram, i === 0 ? v.key : `(leftover) ${v.key}`);
      const problems = i === 0 ? v.problems : v.problems.filter((p) => !p.startsWith('non-MCP'));
      if (i === 0 && c.wire === 'pool' && c.method === 'POST' && a.status === 413 && (c.body?.length ?? 0) <= o.ctx.maxBodyBytes) problems.push('413 for a body within the limit');
      if (
        i === 0 &&
        c.wire === 'pool' &&
        c.method === 'POST' &&
        (c.body?.length ?? 0) > o.ctx.maxBodyBytes &&
        !guarded &&
        ![413, 404, 431].includes(a.status) &&
        !(a.status === 401 && !anonymousOk)
      ) {
        problems.push(`body over the limit answered ${a.status}`);
      }
      if (r.ms > o.boundMs + c.slowMs) {
        const head = `HTTP ${a.status} ${String(a.headers['content-type'] ?? '')}: ${JSON.stringify(a.body.subarray(0, 300).toString('latin1'))}`;
        problems.push(`answer took ${Math.round(r.ms)} ms (bound ${o.boundMs + c.slowMs} ms)${r.late ? ', connection still open at the deadline' : ''}; got ${head}`);
      }
      for (const p of problems) violation(p.replace(/\d+/g, 'N').slice(0, 80), p, c, sessionValues);
      if (i > 0) continue;
      // Keep the session book in step with what the case did.
      const sid = a.headers['mcp-session-id'];
      if (a.status === 200 && typeof sid === 'string') {
        const drop = book.add(worker, c.target, sid);
        if (drop) await deleteSession(c.target, drop);
      }
      const used = sessionValues?.[0]?.trim();
      if (used !== undefined && (a.status === 404 || (a.status === 204 && c.method === 'DELETE'))) {
        const t = book.targetOf(used);
        if (t !== null && (a.status === 204 || a.body.includes('SESSION_NOT_FOUND'))) book.forget(t, used);
      }
    }
  }

  // Dispatch: `concurrency` slots; a slow case frees its slot after lingerMs and finishes in the background.
  const indexes = o.only;
  let next = 0;
  let started = 0;
  const nextCase = (): FuzzCase | null => {
    for (;;) {
      if (stop) return null;
      if (indexes ? next >= indexes.length : started >= o.cases) return null;
      const index = indexes ? indexes[next++]! : next++;
      const c = generateCase(o.seed, index, o.ctx);
      if (!indexes && c.features.some((f) => o.exclude.some((x) => f === x || f.startsWith(`${x}:`)))) {
        report.skipped++;
        continue;
      }
      started++;
      return c;
    }
  };
  let tickResolve: () => void = () => {};
  let tick = new Promise<void>((r) => (tickResolve = r));
  const ticker = setInterval(() => {
    tickResolve();
    tick = new Promise<void>((r) => (tickResolve = r));
  }, o.lingerMs);
  const deadline = setTimeout(() => {
    report.stoppedEarly = `time limit of ${o.timeLimitMs} ms reached after ${report.executed} cases`;
    stop = true;
  }, o.timeLimitMs);
  const lingering = new Set<Promise<void>>();
  let connects = 0;
  const onConnect = (): void => {
    connects++;
  };
  o.pool.on('connect', onConnect);
  // Stack traces are the fuzz client's hot spot (a SyntaxError per unparseable body); not needed here.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const progressTimer = setInterval(() => {
    o.log(`fuzz: ${report.executed} cases, ${report.violationCount} violations, ${lingering.size} lingering, ${Math.round(performance.now() - t0)} ms`);
  }, 10_000);

  const slot = async (): Promise<void> => {
    for (;;) {
      const c = nextCase();
      if (c === null) return;
      let done = false;
      const p = runCase(c).catch((err: unknown) => {
        violation('runner error', String(err), c, null);
      });
      void p.finally(() => (done = true));
      // Two ticks: at least lingerMs.
      await Promise.race([p, tick.then(() => tick)]);
      if (!done) {
        lingering.add(p);
        void p.finally(() => lingering.delete(p));
        while (lingering.size >= o.maxLinger) await Promise.race(lingering);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, () => slot()));
    await Promise.all(lingering);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    o.pool.off('connect', onConnect);
    report.poolConnects = connects;
    clearInterval(ticker);
    clearInterval(progressTimer);
    clearTimeout(deadline);
    tickResolve();
  }
  report.elapsedMs = performance.now() - t0;
  return report;
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}
