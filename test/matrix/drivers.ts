import { expect } from 'vitest';
import { ELICITED_NAME, ROOT_URI, sampledText, textOf, waitForNote, type MatrixClient, type Note } from './clients.js';
import type { Row } from './upstreams.js';
import type { Feature, NaCheck } from './tables.js';

/** Everything one cell needs: its client, a second client of the same kind on demand, its row, a unique tag. */
export interface Cell {
  client: MatrixClient;
  /** Another client of the same kind on the same deployment (for "the right client only" checks). */
  other(): Promise<MatrixClient>;
  row: Row;
  /** Unique per cell, safe in tool names: values round-trip through it. */
  tag: string;
}

type Driver = Record<Feature, (cell: Cell) => Promise<void>>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isModern = (c: MatrixClient) => c.id === 'sdk2/2026';
/** Time a notification that must NOT arrive is given to show up anyway. */
const QUIET_MS = 400;
/** Longest wait for a notification or log line that should arrive (they take milliseconds when they work). */
const ARRIVAL_MS = 2500;
/** Per-call timeout for calls that may hang on a known gap (keeps the suite quick). */
const ASK_TIMEOUT = 8_000;

async function waitForLog(row: Row, needle: string, ms = ARRIVAL_MS): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const log = await row.serverLog();
    if (log.includes(needle)) return;
    if (Date.now() > deadline) throw new Error(`the server never logged "${needle}" within ${ms} ms; its log ends:\n${log.slice(-1500)}`);
    await sleep(100);
  }
}

/** Opens what a client needs to receive unsolicited notifications: a listen stream on 2026, nothing on 2025 (the GET stream is automatic). */
async function openChannel(c: MatrixClient, filter: Parameters<MatrixClient['listen']>[0]): Promise<() => Promise<void>> {
  if (!isModern(c)) return async () => {};
  const sub = await c.listen(filter);
  return sub.close;
}

const updatedFor = (uri: string) => (n: Note) => n.method === 'notifications/resources/updated' && n.params?.uri === uri;

/** Subscribes `client` to `uri` the way its revision does (a 2026 listen stream, else resources/subscribe); returns the undo. */
async function subscribeTo(client: MatrixClient, uri: string): Promise<() => Promise<void>> {
  if (!isModern(client)) return client.subscribe(uri);
  const sub = await client.listen({ resourceSubscriptions: [uri] });
  expect(sub.honored.resourceSubscriptions).toEqual([uri]);
  return sub.close;
}

/**
 * Progress reaches the caller only: two clients call at once with different step counts, each must
 * see exactly its own sequence (Berth rewrites progress tokens; both SDK clients start theirs at 0).
 */
async function progressBothWays(cell: Cell, call: (c: MatrixClient, steps: number, onprogress: (p: { progress: number }) => void) => Promise<unknown>): Promise<void> {
  const other = await cell.other();
  const seen = async (c: MatrixClient, steps: number) => {
    const from = c.wire.length;
    const sent = c.sentProgressTokens.length;
    await call(c, steps, () => {});
    const wire = c.wire.slice(from).filter((n) => n.method === 'notifications/progress');
    return { values: wire.map((n) => n.params?.progress), tokens: [...new Set(wire.map((n) => n.params?.progressToken))], sent: c.sentProgressTokens.slice(sent) };
  };
  const [mine, theirs] = await Promise.all([seen(cell.client, 3), seen(other, 4)]);
  // Exactly the caller's own notifications reached it, each under the token its call sent (Berth
  // rewrites tokens upstream and must restore them). Checked on the wire: see MatrixClient.wire.
  expect(mine.values).toEqual([1, 2, 3]);
  expect(theirs.values).toEqual([1, 2, 3, 4]);
  // One token per request leg: a 2026-07-28 call that the server interrupts with a server→client request (the
  // everything server asks for roots 350 ms after initialized) is retried with a token of its own, and the
  // progress after the retry carries that one (src/mcp/README.md, "Isolated mode").
  expect(mine.sent.length).toBeGreaterThanOrEqual(1);
  expect(theirs.sent.length).toBeGreaterThanOrEqual(1);
  expect(mine.tokens).toEqual(mine.sent);
  expect(theirs.tokens).toEqual(theirs.sent);
}

/** Our fixture (test/fixtures/matrix/features.mjs), whichever SDK and transport serves it. */
const ours: Driver = {
  async tools({ client, tag }) {
    expect(await client.listTools()).toEqual(expect.arrayContaining(['echo', 'slow', 'cancellable', 'sample', 'elicit', 'roots', 'log', 'add_tool', 'touch']));
    expect(textOf(await client.callTool('echo', { text: `round trip ${tag}` }))).toBe(`round trip ${tag}`);
  },

  async resources(cell) {
    const { client } = cell;
    const uri = 'matrix://counter';
    expect(await client.listResources()).toContain(uri);
    const before = Number(/^counter=(\d+)$/.exec(await client.readResource(uri))?.[1]);
    expect(Number.isInteger(before)).toBe(true);
    expect(await client.readResource(`matrix://item/${cell.tag}`)).toBe(`item ${cell.tag}`);
    // The subscriber gets resources/updated; another client of the same kind, listening but not subscribed, does not.
    const other = await cell.other();
    const otherClose = await openChannel(other, { toolsListChanged: true });
    const otherFrom = other.notes.length;
    const unsubscribe = await subscribeTo(client, uri);
    try {
      const from = client.notes.length;
      await client.callTool('touch', { uri });
      await waitForNote(client, updatedFor(uri), ARRIVAL_MS, from);
      expect(await client.readResource(uri)).toBe(`counter=${before + 1}`);
    } finally {
      await unsubscribe();
    }
    // Unsubscribed: a touch reaches no one.
    const from = client.notes.length;
    await client.callTool('touch', { uri });
    await sleep(QUIET_MS);
    await otherClose();
    expect(client.notes.slice(from).filter(updatedFor(uri))).toEqual([]);
    expect(other.notes.slice(otherFrom).filter(updatedFor(uri))).toEqual([]);
  },

  async prompts({ client, tag }) {
    expect(await client.listPrompts()).toContain('greet');
    expect(await client.getPrompt('greet', { name: tag })).toBe(`Hello, ${tag}!`);
  },

  async completion({ client }) {
    expect(await client.complete('greet', 'name', 'al')).toEqual(['alice', 'albert']);
    expect(await client.complete('greet', 'name', 'b')).toEqual(['bob']);
  },

  async progress(cell) {
    await progressBothWays(cell, async (c, steps, onprogress) => {
      expect(textOf(await c.callTool('slow', { ms: 240, steps }, { onprogress }))).toBe('slept 240');
    });
  },

  async cancellation({ client, row, tag }) {
    const ac = new AbortController();
    const from = client.wire.length;
    const settled = client.callTool('cancellable', { marker: tag, ms: 20_000 }, { signal: ac.signal, onprogress: () => {} }).then(
      () => 'resolved',
      () => 'rejected',
    );
    // The handler is running once its "started" progress arrives.
    const deadline = Date.now() + 10_000;
    while (!client.wire.slice(from).some((n) => n.method === 'notifications/progress')) {
      if (Date.now() > deadline) throw new Error('cancellable never reported that it started');
      await sleep(20);
    }
    const t0 = Date.now();
    ac.abort();
    expect(await settled).toBe('rejected');
    expect(Date.now() - t0).toBeLessThan(2000);
    // The server saw it: its handler's abort signal fired (it says so on stderr).
    await waitForLog(row, `matrix-fixture cancelled ${tag}`);
    expect(textOf(await client.callTool('echo', { text: 'still usable' }))).toBe('still usable');
  },

  async logging({ client, tag }) {
    const close = await openChannel(client, {});
    try {
      if (!isModern(client)) await client.setLogLevel('debug');
      const from = client.notes.length;
      const r = await client.callTool('log', { message: `log ${tag}` }, isModern(client) ? { meta: { 'io.modelcontextprotocol/logLevel': 'debug' } } : {});
      expect(textOf(r)).toBe('logged');
      const note = await waitForNote(client, (n) => n.method === 'notifications/message' && n.params?.data === `log ${tag}`, ARRIVAL_MS, from);
      expect(note.params?.level).toBe('info');
    } finally {
      await close();
    }
  },

  async sampling({ client, tag }) {
    const r = await client.callTool('sample', { prompt: `prompt ${tag}` }, { timeout: ASK_TIMEOUT });
    expect(r.isError ?? false, textOf(r)).toBe(false);
    expect(textOf(r)).toBe(sampledText(`prompt ${tag}`));
  },

  async elicitation({ client, tag }) {
    const r = await client.callTool('elicit', { question: `who ${tag}?` }, { timeout: ASK_TIMEOUT });
    expect(r.isError ?? false, textOf(r)).toBe(false);
    expect(textOf(r)).toBe(`accept ${ELICITED_NAME}`);
  },

  async roots({ client }) {
    const r = await client.callTool('roots', {}, { timeout: ASK_TIMEOUT });
    expect(r.isError ?? false, textOf(r)).toBe(false);
    expect(textOf(r)).toBe(ROOT_URI);
  },

  async list_changed({ client, tag }) {
    const name = `added_${tag}`;
    const close = await openChannel(client, { toolsListChanged: true });
    try {
      const from = client.notes.length;
      expect(textOf(await client.callTool('add_tool', { name }))).toBe(`added ${name}`);
      await waitForNote(client, (n) => n.method === 'notifications/tools/list_changed', ARRIVAL_MS, from);
    } finally {
      await close();
    }
    expect(await client.listTools()).toContain(name);
    expect(textOf(await client.callTool(name))).toBe(`I am ${name}`);
  },
};

const EVERYTHING_SAMPLING = 'trigger-sampling-request';
const EVERYTHING_ELICIT = 'trigger-elicitation-request';
const EVERYTHING_ROOTS = 'get-roots-list';

/** @modelcontextprotocol/server-everything from npm. */
const everything: Driver = {
  async tools({ client, tag }) {
    expect(await client.listTools()).toEqual(expect.arrayContaining(['echo', 'get-sum', 'trigger-long-running-operation', 'toggle-simulated-logging']));
    expect(textOf(await client.callTool('echo', { message: tag }))).toBe(`Echo: ${tag}`);
    expect(textOf(await client.callTool('get-sum', { a: 19, b: 23 }))).toContain('42');
  },

  async resources(cell) {
    const { client } = cell;
    const uri = 'demo://resource/dynamic/text/7';
    expect((await client.listResources()).some((u) => u.startsWith('demo://resource/static/document/'))).toBe(true);
    expect(await client.readResource(uri)).toMatch(/^Resource 7: This is a plaintext resource/);
    const other = await cell.other();
    const otherClose = await openChannel(other, { toolsListChanged: true });
    const otherFrom = other.notes.length;
    const subjectFrom = client.notes.length;
    const unsubscribe = await subscribeTo(client, uri);
    // server-everything adds a subscription only after it has logged "Received Subscribe Resource
    // request for URI: …" (an awaited send), so that message says the subscription is in place. A listen
    // stream is acknowledged only once the server has answered the subscribe, and carries nothing from
    // before its acknowledgement, so a 2026 client needs no such wait (stdio-1x's cell checks the order).
    if (!isModern(client)) {
      await waitForNote(client, (n) => n.method === 'notifications/message' && String(n.params?.data).includes(`Subscribe Resource request for URI: ${uri}`), ARRIVAL_MS, subjectFrom);
    }
    // toggle-subscriber-updates sends resources/updated at once (then every 5 s) for the uris its
    // connection subscribed to; we stop it again right after.
    const from = client.notes.length;
    await client.callTool('toggle-subscriber-updates');
    try {
      await waitForNote(client, updatedFor(uri), ARRIVAL_MS, from);
      await sleep(QUIET_MS);
      expect(other.notes.slice(otherFrom).filter(updatedFor(uri))).toEqual([]);
    } finally {
      await client.callTool('toggle-subscriber-updates');
      await unsubscribe();
      await otherClose();
    }
  },

  async prompts({ client, tag }) {
    expect(await client.listPrompts()).toEqual(expect.arrayContaining(['simple-prompt', 'args-prompt', 'completable-prompt']));
    expect(await client.getPrompt('args-prompt', { city: tag, state: 'TX' })).toBe(`What's weather in ${tag}, TX?`);
  },

  async completion({ client }) {
    expect(await client.complete('completable-prompt', 'department', 'S')).toEqual(['Sales', 'Support']);
    // The context (an earlier argument) must reach the server too.
    expect(await client.complete('completable-prompt', 'name', 'A', { department: 'Engineering' })).toEqual(['Alice']);
  },

  async progress(cell) {
    await progressBothWays(cell, async (c, steps, onprogress) => {
      expect(textOf(await c.callTool('trigger-long-running-operation', { duration: 0.24, steps }, { onprogress }))).toContain(`Steps: ${steps}`);
    });
  },

  async cancellation() {
    throw new Error('not applicable: see the na rule');
  },

  async logging({ client }) {
    const close = await openChannel(client, {});
    if (!isModern(client)) await client.setLogLevel('debug');
    const from = client.notes.length;
    // Starts simulated logging for the connection: one message at once, then every 5 s; stopped right after.
    expect(textOf(await client.callTool('toggle-simulated-logging'))).toMatch(/started/i);
    try {
      const note = await waitForNote(client, (n) => n.method === 'notifications/message', ARRIVAL_MS, from);
      expect(String(note.params?.data)).toMatch(/-level message|level-message/);
    } finally {
      await client.callTool('toggle-simulated-logging').catch(() => {});
      await close();
    }
  },

  async sampling({ client, tag }) {
    const r = await client.callTool(EVERYTHING_SAMPLING, { prompt: tag, maxTokens: 5 }, { timeout: ASK_TIMEOUT });
    expect(r.isError ?? false, textOf(r)).toBe(false);
    expect(textOf(r)).toContain(sampledText(`Resource ${EVERYTHING_SAMPLING} context: ${tag}`));
  },

  async elicitation({ client }) {
    const r = await client.callTool(EVERYTHING_ELICIT, {}, { timeout: ASK_TIMEOUT });
    expect(r.isError ?? false, textOf(r)).toBe(false);
    expect(textOf(r)).toContain(ELICITED_NAME);
  },

  async roots({ client }) {
    const r = await client.callTool(EVERYTHING_ROOTS, {}, { timeout: ASK_TIMEOUT });
    expect(r.isError ?? false, textOf(r)).toBe(false);
    expect(textOf(r)).toContain(ROOT_URI);
  },

  async list_changed({ client, tag }) {
    const name = `mx-${tag}.gz`;
    const close = await openChannel(client, { resourcesListChanged: true });
    try {
      const from = client.notes.length;
      await client.callTool('gzip-file-as-resource', { name, data: 'data:text/plain;base64,aGVsbG8gbWF0cml4' });
      await waitForNote(client, (n) => n.method === 'notifications/resources/list_changed', ARRIVAL_MS, from);
    } finally {
      await close();
    }
    expect(await client.listResources()).toContain(`demo://resource/session/${name}`);
  },
};

export const DRIVERS = { ours, everything };

/** Shared mode's documented refusal of a server→client request, as the row's server's tool reports it. */
export async function assertRefused(cell: Cell, feature: Feature, server: keyof typeof DRIVERS): Promise<void> {
  const calls: Partial<Record<Feature, [string, Record<string, unknown>]>> =
    server === 'ours'
      ? { sampling: ['sample', { prompt: cell.tag }], elicitation: ['elicit', { question: cell.tag }], roots: ['roots', {}] }
      : { sampling: [EVERYTHING_SAMPLING, { prompt: cell.tag, maxTokens: 5 }], elicitation: [EVERYTHING_ELICIT, {}], roots: [EVERYTHING_ROOTS, {}] };
  const [name, args] = calls[feature]!;
  const r = await cell.client.callTool(name, args, { timeout: ASK_TIMEOUT });
  expect(r.isError).toBe(true);
  expect(textOf(r)).toMatch(/-32601/);
  expect(textOf(r)).toMatch(/shared mode.*isolated mode/);
}

/** Asserts the documented reason an `na` cell does not apply. */
export async function assertNaCheck(cell: Cell, check: NaCheck, feature: Feature): Promise<void> {
  const { client } = cell;
  switch (check) {
    case 'tool-absent': {
      const name = { sampling: EVERYTHING_SAMPLING, elicitation: EVERYTHING_ELICIT, roots: EVERYTHING_ROOTS }[feature as 'sampling'];
      const tools = await client.listTools();
      expect(tools).toContain('echo');
      expect(tools).not.toContain(name);
      return;
    }
    case 'client-side-cancel': {
      const ac = new AbortController();
      const settled = client.callTool('trigger-long-running-operation', { duration: 10, steps: 10 }, { signal: ac.signal }).then(
        () => 'resolved',
        () => 'rejected',
      );
      await sleep(300);
      const t0 = Date.now();
      ac.abort();
      expect(await settled).toBe('rejected');
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(textOf(await client.callTool('echo', { message: 'after abort' }))).toBe('Echo: after abort');
      return;
    }
    case 'per-call-process': {
      const sub = await client.listen({ toolsListChanged: true, resourcesListChanged: true });
      await sub.close();
      expect(sub.honored.resourceSubscriptions ?? []).toEqual([]); // nothing honoured that was not asked for
      if (cell.row.def.server === 'ours') {
        const name = `added_${cell.tag}`;
        expect(textOf(await client.callTool('add_tool', { name }))).toBe(`added ${name}`);
        expect(await client.listTools()).not.toContain(name);
      } else {
        const name = `mx-${cell.tag}.gz`;
        await client.callTool('gzip-file-as-resource', { name, data: 'data:text/plain;base64,aGVsbG8gbWF0cml4' });
        expect(await client.listResources()).not.toContain(`demo://resource/session/${name}`);
      }
      return;
    }
  }
}
