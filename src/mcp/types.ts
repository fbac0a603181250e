import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ToolSummary } from '../core/index.js';
import type { ExitInfo, StdioProcess } from '../runtime/types.js';

/**
 * Something that serves the MCP Streamable HTTP transport for one deployment.
 * The gateway has already matched the route, checked the body size and read the body.
 */
export interface McpEndpoint {
  /**
   * Handle one HTTP request addressed to the deployment's MCP endpoint (POST, GET or DELETE).
   * `body` is the raw request body (empty for GET/DELETE). Never throws: answers errors itself.
   */
  handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void>;
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
}

/** Events a bridge reports to whoever supervises it (the control plane). */
export interface BridgeEvents {
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
  /** Most concurrent sessions per deployment. */
  maxSessions: number;
  /** A request with no answer after this long gets a JSON-RPC error. */
  requestTimeoutMs: number;
}

/** Starts a fresh stdio process for a bridge (wraps Runtime.launch with the deployment's spec). */
export type SpawnProcess = (instanceKey: string) => Promise<StdioProcess>;
