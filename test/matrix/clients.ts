import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import type { ClientId } from './tables.js';

/** What every matrix client answers when a server asks it something: a test can check the round trip. */
export const ROOT_URI = 'file:///matrix/root-a';
export const ELICITED_NAME = 'matrix-user';
export const sampledText = (prompt: string): string => `sampled(${prompt})`;

export interface Note {
  method: string;
  params?: Record<string, unknown>;
}

export interface ToolResult {
  content?: { type: string; text?: string }[];
  isError?: boolean;
}

export interface CallOptions {
  onprogress?: (p: { progress: number; total?: number }) => void;
  signal?: AbortSignal;
  timeout?: number;
  meta?: Record<string, unknown>;
}

/** A 2026-07-28 `subscriptions/listen` filter (the fields the spec defines). */
export interface ListenFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

/** The operations the matrix needs, over any of the four SDK clients. */
export interface MatrixClient {
  readonly id: ClientId;
  /** Every notification the SDK handed to the application (progress goes to the call's onprogress instead), in order. */
  readonly notes: Note[];
  /**
   * Every notification as it came off the wire, progress included. The 1.x SDK client dispatches
   * notifications a microtask late but responses at once, so a progress notification that arrives in
   * the same read as its call's response never reaches `onprogress`; what Berth delivered is this.
   */
  readonly wire: Note[];
  /** The progress token of every request the client sent with one, in order. */
  readonly sentProgressTokens: unknown[];
  listTools(): Promise<string[]>;
  callTool(name: string, args?: Record<string, unknown>, opts?: CallOptions): Promise<ToolResult>;
  listResources(): Promise<string[]>;
  readResource(uri: string): Promise<string>;
  /** 2025 clients: resources/subscribe (returns the unsubscribe). Not for 2026 clients (they listen). */
  subscribe(uri: string): Promise<() => Promise<void>>;
  /** 2026 clients: open a subscriptions/listen stream; resolves with the honoured filter and a closer. */
  listen(filter: ListenFilter): Promise<{ honored: ListenFilter; close: () => Promise<void> }>;
  setLogLevel(level: 'debug' | 'info'): Promise<void>;
  listPrompts(): Promise<string[]>;
  getPrompt(name: string, args: Record<string, string>): Promise<string>;
  complete(prompt: string, arg: string, value: string, context?: Record<string, string>): Promise<string[]>;
  close(): Promise<void>;
}

const INFO = { name: 'berth-matrix', version: '1.0.0' };
const CAPABILITIES = { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } };

function firstText(params: { messages: { content: unknown }[] }): string {
  const c = params.messages[0]?.content as { type?: string; text?: string } | { type?: string; text?: string }[] | undefined;
  const one = Array.isArray(c) ? c[0] : c;
  return one?.type === 'text' ? (one.text ?? '') : '';
}

interface Tappable {
  onmessage?: (m: never, extra?: never) => void;
  send(m: never, opts?: never): Promise<void>;
}

/** Records the notifications a connected transport receives before the SDK sees them, and the progress tokens it sends. */
function tapWire(transport: Tappable): { wire: Note[]; sentProgressTokens: unknown[] } {
  const wire: Note[] = [];
  const sentProgressTokens: unknown[] = [];
  const sdkHandler = transport.onmessage!;
  transport.onmessage = (m: never, extra?: never) => {
    const msg = m as { method?: unknown; id?: unknown; params?: Record<string, unknown> };
    if (typeof msg.method === 'string' && msg.id === undefined) wire.push({ method: msg.method, params: msg.params });
    sdkHandler(m, extra);
  };
  const send = transport.send.bind(transport);
  transport.send = (m: never, opts?: never) => {
    const token = (m as { params?: { _meta?: { progressToken?: unknown } } }).params?._meta?.progressToken;
    if (token !== undefined) sentProgressTokens.push(token);
    return send(m, opts);
  };
  return { wire, sentProgressTokens };
}

const text = (contents: { text?: unknown }[]): string => contents.map((c) => (typeof c.text === 'string' ? c.text : '')).join('');

async function connectV1(id: ClientId, url: string, sse: boolean): Promise<MatrixClient> {
  const client = new ClientV1(INFO, { capabilities: CAPABILITIES });
  const notes: Note[] = [];
  client.fallbackNotificationHandler = async (n) => void notes.push({ method: n.method, params: n.params as Record<string, unknown> | undefined });
  client.setRequestHandler(CreateMessageRequestSchema, async (r) => ({ role: 'assistant', model: 'matrix', content: { type: 'text', text: sampledText(firstText(r.params)) } }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: ELICITED_NAME } }));
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: ROOT_URI, name: 'a' }] }));
  const transport = sse ? new SSEClientTransport(new URL(url)) : new TransportV1(new URL(url));
  await client.connect(transport, { timeout: 10_000 });
  const { wire, sentProgressTokens } = tapWire(transport as never);
  return {
    id,
    notes,
    wire,
    sentProgressTokens,
    listTools: async () => (await client.listTools()).tools.map((t) => t.name),
    callTool: async (name, args = {}, o = {}) =>
      (await client.callTool({ name, arguments: args, ...(o.meta ? { _meta: o.meta } : {}) }, undefined, {
        onprogress: o.onprogress,
        signal: o.signal,
        timeout: o.timeout ?? 15_000,
      })) as ToolResult,
    listResources: async () => (await client.listResources()).resources.map((r) => r.uri),
    readResource: async (uri) => text((await client.readResource({ uri })).contents as { text?: unknown }[]),
    subscribe: async (uri) => {
      await client.subscribeResource({ uri });
      return async () => void (await client.unsubscribeResource({ uri }));
    },
    listen: () => Promise.reject(new Error(`${id} is a 2025-era client: it has no subscriptions/listen`)),
    setLogLevel: async (level) => void (await client.setLoggingLevel(level)),
    listPrompts: async () => (await client.listPrompts()).prompts.map((p) => p.name),
    getPrompt: async (name, args) => {
      const r = await client.getPrompt({ name, arguments: args });
      return r.messages.map((m) => (m.content.type === 'text' ? m.content.text : '')).join('\n');
    },
    complete: async (prompt, arg, value, context) =>
      (await client.complete({ ref: { type: 'ref/prompt', name: prompt }, argument: { name: arg, value }, ...(context ? { context: { arguments: context } } : {}) })).completion.values,
    close: async () => {
      if (transport instanceof TransportV1) await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
}

async function connectV2(id: ClientId, url: string, modern: boolean): Promise<MatrixClient> {
  const client = new ClientV2(INFO, { capabilities: CAPABILITIES, ...(modern ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}) });
  const notes: Note[] = [];
  client.fallbackNotificationHandler = async (n) => void notes.push({ method: n.method, params: n.params as Record<string, unknown> | undefined });
  client.setRequestHandler('sampling/createMessage', async (r) => ({ role: 'assistant', model: 'matrix', content: { type: 'text', text: sampledText(firstText(r.params)) } }));
  client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: ELICITED_NAME } }));
  client.setRequestHandler('roots/list', async () => ({ roots: [{ uri: ROOT_URI, name: 'a' }] }));
  const transport = new TransportV2(new URL(url));
  await client.connect(transport, { timeout: 10_000 });
  const { wire, sentProgressTokens } = tapWire(transport as never);
  return {
    id,
    notes,
    wire,
    sentProgressTokens,
    listTools: async () => (await client.listTools()).tools.map((t) => t.name),
    callTool: async (name, args = {}, o = {}) =>
      (await client.callTool({ name, arguments: args, ...(o.meta ? { _meta: o.meta } : {}) }, { onprogress: o.onprogress, signal: o.signal, timeout: o.timeout ?? 15_000 })) as ToolResult,
    listResources: async () => (await client.listResources()).resources.map((r) => r.uri),
    readResource: async (uri) => text((await client.readResource({ uri })).contents as { text?: unknown }[]),
    subscribe: async (uri) => {
      await client.subscribeResource({ uri });
      return async () => void (await client.unsubscribeResource({ uri }));
    },
    listen: async (filter) => {
      const sub = await client.listen(filter, { timeout: 10_000 });
      return { honored: sub.honoredFilter, close: () => sub.close() };
    },
    setLogLevel: async (level) => void (await client.setLoggingLevel(level)),
    listPrompts: async () => (await client.listPrompts()).prompts.map((p) => p.name),
    getPrompt: async (name, args) => {
      const r = await client.getPrompt({ name, arguments: args });
      return r.messages.map((m) => (m.content.type === 'text' ? m.content.text : '')).join('\n');
    },
    complete: async (prompt, arg, value, context) =>
      (await client.complete({ ref: { type: 'ref/prompt', name: prompt }, argument: { name: arg, value }, ...(context ? { context: { arguments: context } } : {}) })).completion.values,
    close: async () => {
      if (!modern) await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
}

/** Connects a client of kind `id` to a deployment whose Streamable HTTP endpoint is `endpoint` (`…/s/ID/mcp`). */
export function connect(id: ClientId, endpoint: string): Promise<MatrixClient> {
  switch (id) {
    case 'sdk1':
      return connectV1(id, endpoint, false);
    case 'sdk1/sse':
      return connectV1(id, endpoint.replace(/\/mcp$/, '/sse'), true);
    case 'sdk2/2025':
      return connectV2(id, endpoint, false);
    case 'sdk2/2026':
      return connectV2(id, endpoint, true);
  }
}

/** Resolves when `pred` holds for a note received at index `from` or later; rejects after `ms`. */
export async function waitForNote(c: MatrixClient, pred: (n: Note) => boolean, ms = 3000, from = 0): Promise<Note> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = c.notes.slice(from).find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) {
      throw new Error(`${c.id}: no matching notification within ${ms} ms; got ${JSON.stringify(c.notes.slice(from).map((n) => n.method))}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const textOf = (r: ToolResult): string => (r.content ?? []).map((c) => c.text ?? '').join('');
