import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ToolSummary } from '../core/index.js';
import type { ExitInfo, StdioProcess } from '../core/process.js';
import type { ReplayLimits } from './front/replay.js';

/**
 * Who sends a request, as the gateway knows it: sessions are counted (and evicted) per principal and per
 * address, rate limits are kept per principal.
 */
export interface ClientIdentity {
  /** The id of the token the request carried, or `anonymous`. Never the token itself. */
  principal: string;
  /** The client's address as the connection caps count it (an IPv6 client: its /64). */
  address: string;
}

/**
 * How far behind Berth is on its clients as a whole. While `high`, bridges stop reading their servers'
 * stdout (a server then blocks on its own writes) instead of buffering for clients that cannot keep up.
 */
export interface OutboundPressure {
  readonly high: boolean;
  /** `listener(true)` when the pressure rises over its budget, `listener(false)` when it has fallen back; returns an unsubscribe. */
  subscribe(listener: (high: boolean) => void): () => void;
}

/**
 * Something that serves the MCP Streamable HTTP transport for one deployment.
 * The gateway has already matched the route, checked the body size and read the body.
 */
export interface McpEndpoint {
  /**
   * Handle one HTTP request addressed to the deployment's MCP endpoint (POST, GET or DELETE).
   * `body` is the raw request body (empty for GET/DELETE). `client` (when the gateway knows it) is whom a new
   * session belongs to, for the per-token and per-address session caps. Never throws: answers errors itself.
   */
  handle(req: IncomingMessage, res: ServerResponse, body: Buffer, client?: ClientIdentity): Promise<void>;
  /**
   * The legacy HTTP+SSE transport (protocol 2024-11-05): `kind` 'sse' is `GET BASE/sse` (the stream),
   * 'message' is `POST BASE/message?sessionId=…`. `basePath` (e.g. `/s/ID`) prefixes the endpoint event's URL.
   */
  handleLegacy?(req: IncomingMessage, res: ServerResponse, body: Buffer, kind: 'sse' | 'message', basePath: string, client?: ClientIdentity): Promise<void>;
  /** Health probe: an MCP round trip (tools/list). Rejects on failure or after `timeoutMs`. */
  probe(timeoutMs: number): Promise<{ tools: ToolSummary[] }>;
  stats(): EndpointStats;
  /** Ends all sessions and stops owned processes. */
  close(): Promise<void>;
}

export interface EndpointStats {
  sessions: number;
  processes: number;
  inFlight: number;
  /** When the last client request arrived (ms since the epoch), null before the first; set by shared bridges. */
  lastRequestAt?: number | null;
  /** When the process will be stopped for idleness if no request comes (scale to zero), else null. */
  idleAt?: number | null;
}

/**
 * What a stdio server said about itself, enough to answer a client's handshake and listings without
 * starting it (scale to zero). JSON: the control plane stores it with the revision.
 */
export interface ServerSnapshot {
  /** The server's InitializeResult to Berth's own initialize. */
  initialize: Record<string, unknown>;
  /** Every page of tools/list merged (the items), or null when the server offers no tools or did not answer. */
  tools: unknown[] | null;
  prompts: unknown[] | null;
  resources: unknown[] | null;
  resourceTemplates: unknown[] | null;
  /** When it was learned (ms since the epoch). */
  at: number;
}

/** Scale to zero for a shared bridge (src/mcp/README.md, "Scale to zero"). */
export interface ScaleOptions {
  /** Stop the process after this long without requests (none in flight, none received). */
  idleMs: number;
  /**
   * A snapshot learned earlier (e.g. before Berth restarted): with it, start() starts nothing, and the
   * handshake and listings are answered from it until a request needs the server.
   */
  snapshot?: ServerSnapshot | null;
}

/** Events a bridge reports to whoever supervises it (the control plane). */
export interface BridgeEvents {
  /**
   * Isolated mode: a process was bound to the client it serves (a session, stateless call or listen stream), before
   * that client's initialize reaches it; `owner` null when the gateway did not identify the client.
   */
  onBound?(instanceKey: string, owner: ClientIdentity | null): void;
  /** A process is up and answered initialize. */
  onProcessReady?(info: { pid: number; instanceKey: string }): void;
  /** A process exited; `expected` is true when Berth stopped it. */
  onProcessExit?(info: { pid: number; instanceKey: string; exit: ExitInfo; expected: boolean }): void;
  /** Shared mode gave up restarting after repeated crashes. */
  onGaveUp?(reason: string): void;
  /** Server sent tools/list_changed etc.; lets control refresh the cached tool list. */
  onListChanged?(method: string): void;
  /** One JSON-RPC request from a client was forwarded (for request counting). */
  onClientRequest?(method: string): void;
  /**
   * Shared mode saw the server ask for client features (sampling, elicitation, roots) it cannot route;
   * the deployment should run in isolated mode. Raised once per bridge.
   */
  onNeedsIsolation?(reason: string): void;
  /** Scale to zero: the process was stopped after `idleMs` without requests. */
  onIdle?(): void;
  /** Scale to zero: a request started the process of an idle bridge. */
  onWake?(): void;
  /** The server's snapshot was learned or changed (store it to answer listings after a restart). */
  onSnapshot?(snapshot: ServerSnapshot): void;
}

export interface RestartPolicy {
  /** First delay after a crash; doubles each time up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Crashes within `windowMs` after which the bridge gives up (onGaveUp). */
  maxCrashes: number;
  windowMs: number;
}

export interface SessionLimits {
  /** Idle sessions are forgotten after this long. */
  idleTimeoutMs: number;
  /**
   * Most concurrent sessions per deployment. At the cap a new session takes the place of the least recently
   * used idle one (no stream open, no request in flight); it is refused only when none is idle.
   */
  maxSessions: number;
  /** Most sessions one principal (token) may hold; at it, its own least recently used idle session goes. Default: maxSessions. */
  maxSessionsPerPrincipal?: number;
  /** The same per client address. Default: maxSessions. */
  maxSessionsPerAddress?: number;
  /**
   * A session must have been idle this long before it may be evicted to make room (default 0): a client pausing
   * between calls keeps its session, an abandoned one goes.
   */
  evictIdleAfterMs?: number;
  /** A request with no answer after this long gets a JSON-RPC error. */
  requestTimeoutMs: number;
  /** Per-session caps of the SSE replay log (defaults: 128 messages, 64 KiB). */
  replay?: Partial<ReplayLimits>;
}

/** Starts a fresh stdio process for a bridge (wraps Runtime.launch with the deployment's spec). */
export type SpawnProcess = (instanceKey: string) => Promise<StdioProcess>;

/** Options shared by both bridge modes. */
export interface BridgeOptions {
  deploymentId: string;
  spawn: SpawnProcess;
  /**
   * Shared mode: declare the client features it can route (sampling, elicitation) in the one handshake and route
   * the server's requests to the one certain client (default true); false: declare none, refuse them all.
   */
  clientFeatures?: boolean;
  restart: RestartPolicy;
  limits: SessionLimits;
  events?: BridgeEvents;
  /** Longest stdout line accepted from a server (default 64 MiB); longer lines are dropped and logged. */
  maxLineBytes?: number;
  /**
   * Bytes that may wait for a server to read its stdin (default 4 MiB). Over it, requests are answered with
   * UPSTREAM_BUSY and other messages are dropped (logged); one message of any size always fits.
   */
  maxStdinBytes?: number;
  /** While high, the bridge stops reading its servers' stdout (see OutboundPressure). */
  pressure?: OutboundPressure;
  /** Bridge lifecycle lines and stray (non JSON-RPC) stdout lines. */
  log?: (line: string) => void;
  /** Berth's version, sent as clientInfo.version in the bridge's own initialize. */
  version?: string;
  /** Timing knobs; the defaults suit production, tests shorten them. */
  timing?: BridgeTiming;
  /** Scale to zero (shared mode); absent: the process always runs. */
  scale?: ScaleOptions;
}

export interface BridgeTiming {
  /** A POST whose answer is not ready after this long switches to SSE with a keepalive (default 10 000). */
  sseAfterMs?: number;
  /** Keepalive comment interval on GET streams (default 25 000). */
  keepaliveMs?: number;
  /** Limit for a process's initialize handshake (default: limits.requestTimeoutMs, at least 10 000). */
  handshakeTimeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL when Berth stops a process (default 2 000). */
  stopGraceMs?: number;
  /** How long a multi round-trip call waits parked for the client's retry (default: limits.requestTimeoutMs). */
  inputRequiredTimeoutMs?: number;
  /** Isolated mode: without a session open for this long, the warm pool's demand above `isolated.warm` halves (default 30 000). */
  poolQuietMs?: number;
}

/** A bridge that multiplexes every session onto one process. */
export interface SharedBridge extends McpEndpoint {
  /**
   * Spawns the process and completes the initialize handshake; rejects if that fails. With
   * `scale.snapshot` it starts nothing (the first request that needs the server does).
   */
  start(): Promise<void>;
  /**
   * Blue-green: start `spawn`'s process, handshake and list it; then new requests go to it while requests in
   * flight finish on the old process, which is stopped once it has none (or after `drainMs`, default
   * `limits.requestTimeoutMs`). Sessions stay; they get list_changed for the lists that differ. Rejects
   * with a BerthError (UPSTREAM_UNAVAILABLE, naming why) when the new process fails: it is stopped and the
   * old one keeps serving. Swaps run one after another.
   */
  swap(spawn: SpawnProcess, opts?: { drainMs?: number }): Promise<{ tools: ToolSummary[] }>;
}

export interface IsolatedBridgeOptions extends BridgeOptions {
  /**
   * `warm`: processes always kept started for the next session (the pool's floor); `maxWarm` (default
   * max(warm, 16)): most the pool grows to with the rate of session opens; `max`: most processes at once, warm and
   * in use together; `prime` (default true): the bridge initializes warm processes itself and answers a fitting
   * client's initialize from that (src/mcp/README.md, "Isolated mode: the warm pool"); false keeps them uninitialized.
   */
  isolated: { warm: number; max: number; maxWarm?: number; prime?: boolean };
}

/** A bridge that gives each session its own process. */
export interface IsolatedBridge extends McpEndpoint {
  /** Fills the warm pool; resolves when the warm processes are spawned. */
  start(): Promise<void>;
  /**
   * Move to a new revision's processes. Resolves once a process of `spawn` has started and answered initialize
   * and tools/list; from then on new sessions and the warm pool use it (old warm processes are stopped), while
   * sessions already open keep their process until they end or `drainMs` (default 5 minutes) passes, when they
   * end with SESSION_DRAINED. Rejects with a BerthError, and keeps the old spawn, when the new one fails.
   */
  swap(spawn: SpawnProcess, opts?: { drainMs?: number }): Promise<{ tools: ToolSummary[] }>;
}
