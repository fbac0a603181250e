/**
 * The protocol matrix as data: which upstreams, which clients, which features, and what each cell
 * is expected to do. matrix.test.ts generates one test per cell from these tables.
 *
 * Every cell is `pass` unless a rule below says otherwise, and every rule says why.
 */

export type UpstreamId =
  | 'everything/shared'
  | 'everything/isolated'
  | 'stdio-1x/shared'
  | 'stdio-1x/isolated'
  | 'http-2x/stateless'
  | 'http-2x/2026-only'
  | 'sse-legacy';
export type ClientId = 'sdk1' | 'sdk2/2025' | 'sdk2/2026' | 'sdk1/sse';
export type Feature =
  | 'tools'
  | 'resources'
  | 'prompts'
  | 'completion'
  | 'progress'
  | 'cancellation'
  | 'logging'
  | 'sampling'
  | 'elicitation'
  | 'roots'
  | 'list_changed';
/** Edge cases only a raw HTTP client can produce. */
export type RawCase = 'notify-202' | 'batch' | 'get-stream' | 'delete-404' | 'unknown-session' | 'stateless-call';
/** A client column; `raw` is the raw HTTP client, whose cells are edge cases rather than features. */
export type Column = ClientId | 'raw';

export interface UpstreamDef {
  id: UpstreamId;
  /** Which feature driver exercises it: server-everything's tools, or our fixture's (test/fixtures/matrix). */
  server: 'everything' | 'ours';
  deploy: { kind: 'process'; mode: 'shared' | 'isolated' } | { kind: 'url'; fixture: 'http-v2.mjs' | 'sse-v1.mjs'; path: '/mcp' | '/sse'; env?: Record<string, string> };
  what: string;
}

export const UPSTREAMS: UpstreamDef[] = [
  { id: 'everything/shared', server: 'everything', deploy: { kind: 'process', mode: 'shared' }, what: '@modelcontextprotocol/server-everything over stdio, one shared process' },
  { id: 'everything/isolated', server: 'everything', deploy: { kind: 'process', mode: 'isolated' }, what: 'the same, a process per session (per call for 2026-07-28)' },
  { id: 'stdio-1x/shared', server: 'ours', deploy: { kind: 'process', mode: 'shared' }, what: 'test/fixtures/matrix/stdio-v1.mjs (SDK 1.x) over stdio, shared' },
  { id: 'stdio-1x/isolated', server: 'ours', deploy: { kind: 'process', mode: 'isolated' }, what: 'the same, isolated' },
  {
    id: 'http-2x/stateless',
    server: 'ours',
    deploy: { kind: 'url', fixture: 'http-v2.mjs', path: '/mcp' },
    what: "test/fixtures/matrix/http-v2.mjs: SDK 2.x createMcpHandler's default, 2026-07-28 plus a stateless 2025 fallback (initialize works, no sessions)",
  },
  {
    id: 'http-2x/2026-only',
    server: 'ours',
    deploy: { kind: 'url', fixture: 'http-v2.mjs', path: '/mcp', env: { MATRIX_LEGACY: 'reject' } },
    what: "the same with legacy: 'reject': a remote that speaks only the stateless 2026-07-28 revision",
  },
  { id: 'sse-legacy', server: 'ours', deploy: { kind: 'url', fixture: 'sse-v1.mjs', path: '/sse' }, what: 'test/fixtures/matrix/sse-v1.mjs: SDK 1.x SSEServerTransport (HTTP+SSE, 2024-11-05)' },
];

export const CLIENTS: { id: ClientId; what: string }[] = [
  { id: 'sdk1', what: '@modelcontextprotocol/sdk 1.x, Streamable HTTP, 2025-11-25' },
  { id: 'sdk2/2025', what: '@modelcontextprotocol/client 2.x, default negotiation (2025-11-25)' },
  { id: 'sdk2/2026', what: "@modelcontextprotocol/client 2.x pinned to 2026-07-28 (stateless)" },
  { id: 'sdk1/sse', what: '@modelcontextprotocol/sdk 1.x SSEClientTransport at /s/ID/sse (2024-11-05)' },
];

export const FEATURES: Feature[] = ['tools', 'resources', 'prompts', 'completion', 'progress', 'cancellation', 'logging', 'sampling', 'elicitation', 'roots', 'list_changed'];
export const RAW_CASES: RawCase[] = ['notify-202', 'batch', 'get-stream', 'delete-404', 'unknown-session', 'stateless-call'];

/**
 * What a cell must show:
 * - `pass`: the feature works end to end (values round-trip, notifications reach the right client);
 * - `refused`: Berth refuses it the documented way (shared mode: server→client requests it cannot route get -32601);
 * - `na`: the feature does not apply; `reason` says why, and `check` (when set) asserts that reason.
 */
export type Outcome = { kind: 'pass' } | { kind: 'refused'; reason: string } | { kind: 'na'; reason: string; check?: NaCheck };
/** A documented limitation the cell asserts instead of the feature. */
export type NaCheck = 'tool-absent' | 'client-side-cancel' | 'per-call-process';

interface Rule {
  upstream?: UpstreamId[];
  column?: Column[];
  feature?: (Feature | RawCase)[];
  outcome: Exclude<Outcome, { kind: 'pass' }>;
}

const URL_ROWS: UpstreamId[] = ['http-2x/stateless', 'http-2x/2026-only', 'sse-legacy'];
const ISOLATED_ROWS: UpstreamId[] = ['everything/isolated', 'stdio-1x/isolated'];

/** First matching rule wins. */
export const RULES: Rule[] = [
  {
    upstream: ['stdio-1x/shared'],
    feature: ['roots'],
    outcome: {
      kind: 'refused',
      reason: "shared mode never routes roots/list: the one server would apply one client's roots to every client; Berth answers it -32601 (src/mcp/README.md), the tool reports the error",
    },
  },
  {
    upstream: ['everything/shared'],
    feature: ['roots'],
    outcome: {
      kind: 'na',
      check: 'tool-absent',
      reason: "server-everything registers its roots tool only for a client that declares roots; Berth's shared handshake declares sampling and elicitation only (roots are per client), so the tool is absent",
    },
  },
  {
    upstream: ['everything/shared', 'everything/isolated'],
    feature: ['cancellation'],
    outcome: {
      kind: 'na',
      check: 'client-side-cancel',
      reason: "server-everything's long-running tool ignores its abort signal and cannot report a cancellation; the cell checks the client-side abort and that the connection stays usable",
    },
  },
  {
    upstream: ISOLATED_ROWS,
    column: ['sdk2/2026'],
    feature: ['resources', 'list_changed'],
    outcome: {
      kind: 'na',
      check: 'per-call-process',
      reason:
        "isolated + 2026-07-28: every call runs in a process of its own (src/mcp/README.md), so what one call changes (a subscribed resource, an added tool or resource) is not there for the next call or a listen stream's process; the cell checks exactly that, and that listen is acknowledged",
    },
  },
  {
    upstream: URL_ROWS,
    column: ['raw'],
    feature: ['batch'],
    outcome: { kind: 'na', reason: "a url deployment relays the remote's answer to a batch; batching is the remote server's business, not Berth's" },
  },
];

export function outcomeOf(upstream: UpstreamId, column: Column, feature: Feature | RawCase): Outcome {
  for (const r of RULES) {
    if (r.upstream && !r.upstream.includes(upstream)) continue;
    if (r.column && !r.column.includes(column)) continue;
    if (r.feature && !r.feature.includes(feature)) continue;
    return r.outcome;
  }
  return { kind: 'pass' };
}
