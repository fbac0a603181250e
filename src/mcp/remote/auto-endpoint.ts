/**
 * A deployment of kind `url` whatever its remote speaks. `start()` finds out (or takes
 * `spec.transport`), then each client request goes one of two ways:
 *
 * - the byte proxy (`RemoteEndpoint`) when the remote speaks the client's revision — the fast path;
 * - an isolated bridge whose "processes" are channels to the remote (legacy SSE connection,
 *   2025 session, or stateless 2026-07-28 requests) when it does not: the bridge already serves every
 *   client revision in front of a stdio server, and a channel looks like one.
 *
 * | remote speaks (detect.ts)          | 2025 session client  | 2026-07-28 stateless client | legacy HTTP+SSE client |
 * |------------------------------------|----------------------|-----------------------------|------------------------|
 * | 2025 with sessions + 2026-07-28    | proxy                | proxy                       | bridge, 2025 channel   |
 * | 2025 (with or without sessions)    | proxy                | bridge, 2025 channel        | bridge, 2025 channel   |
 * | 2026-07-28 (+ a session-less 2025) | bridge, 2026 channel | proxy                       | bridge, 2026 channel   |
 * | legacy HTTP+SSE                    | bridge, SSE channel  | bridge, SSE channel         | bridge, SSE channel    |
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BerthError } from '../../core/errors.js';
import type { ToolSummary } from '../../core/index.js';
import { SESSION_HEADER, VERSION_HEADER, headerValue, sendError } from '../wire/http.js';
import { createIsolatedBridge } from '../bridge/isolated.js';
import { PROTOCOL_VERSION_KEY, claimsEnvelope, isModernVersion } from '../wire/modern.js';
import type { BridgeEvents, BridgeTiming, ClientIdentity, EndpointStats, IsolatedBridge, McpEndpoint, RestartPolicy, SessionLimits } from '../types.js';
import type { RemoteChannel } from './channel.js';
import { detectTransport, fetchDiscover, type Detection, type RemoteTransport } from './detect.js';
import { RemoteEndpoint } from './remote-endpoint.js';
import { openSseChannel } from './sse-channel.js';
import { StatelessChannel } from './stateless-channel.js';
import type { ConnectGuard } from './ssrf.js';
import { StreamableChannel } from './streamable-channel.js';
import { RemoteHttp } from './wire.js';

/** `spec.transport` of a url deployment: `auto` asks the remote at start. */
export type RemoteTransportSetting = 'auto' | RemoteTransport;

export interface AutoEndpointOptions {
  deploymentId: string;
  /** The remote MCP endpoint. */
  endpoint: string;
  /** Added to every request to the remote (e.g. Authorization). */
  headers: Record<string, string>;
  /** Which addresses connections to the remote may go to (the SSRF guard: `RemoteAddressPolicy`). */
  guard: ConnectGuard;
  /** Longest wait for the remote's answer (headers); also the bridge's request timeout. */
  timeoutMs: number;
  transport?: RemoteTransportSetting;
  limits: SessionLimits;
  restart: RestartPolicy;
  events?: BridgeEvents;
  /** Detection result and channel trouble (a deployment log line each). */
  log?: (line: string) => void;
  version?: string;
  timing?: BridgeTiming;
  /** Longest wait for each detection probe and for a legacy SSE stream's endpoint event (default 10 000). */
  detectTimeoutMs?: number;
}

const DESCRIBE: Record<string, string> = {
  'streamable-http+modern':
    'Streamable HTTP with sessions (2025-11-25) and the stateless revision 2026-07-28: 2025 and 2026 clients are proxied as they are; legacy HTTP+SSE clients are bridged over a remote session each',
  'streamable-http':
    'Streamable HTTP with sessions (2025-11-25): 2025 clients are proxied as they are; 2026-07-28 stateless and legacy HTTP+SSE clients are translated by the bridge (a remote session per client session or stateless call)',
  stateless:
    'the stateless revision 2026-07-28 (and at most a session-less 2025 fallback): 2026 clients are proxied as they are; 2025 and legacy HTTP+SSE clients are translated by the bridge (initialize answered from server/discover, input_required turned into server requests)',
  sse: 'the legacy HTTP+SSE transport (2024-11-05): every client is translated by the bridge, one SSE connection per client session or stateless call',
};

/** A session-less request of revision 2026-07-28 (the rule the bridge's transport routes by). */
export function isModernRequest(req: IncomingMessage, body: Buffer): boolean {
  if (headerValue(req, SESSION_HEADER) !== undefined) return false;
  if (isModernVersion(headerValue(req, VERSION_HEADER))) return true;
  if (req.method !== 'POST' || !body.includes(PROTOCOL_VERSION_KEY)) return false;
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    const list = Array.isArray(parsed) ? parsed : [parsed];
    return list.some((m) => typeof m === 'object' && m !== null && claimsEnvelope((m as Record<string, unknown>).params));
  } catch {
    return false;
  }
}

export class AutoEndpoint implements McpEndpoint {
  private readonly http: RemoteHttp;
  private detection: Detection | null = null;
  private proxy: RemoteEndpoint | null = null;
  private bridge: IsolatedBridge | null = null;
  private discovered: Promise<Record<string, unknown>> | null = null;
  private readonly detectTimeoutMs: number;

  constructor(private readonly opts: AutoEndpointOptions) {
    this.http = new RemoteHttp(opts.endpoint, opts.headers, opts.timeoutMs, opts.guard);
    this.detectTimeoutMs = opts.detectTimeoutMs ?? 10_000;
  }

  /** What the remote speaks (null before start). */
  get detected(): Detection | null {
    return this.detection;
  }

  async start(): Promise<void> {
    const setting = this.opts.transport ?? 'auto';
    const d: Detection =
      setting === 'auto'
        ? await detectTransport(this.http, this.detectTimeoutMs)
        : { transport: setting, modern: setting === 'stateless', discover: null, evidence: ['set by spec.transport'] };
    this.detection = d;
    if (d.discover) this.discovered = Promise.resolve(d.discover);
    if (d.transport !== 'sse') {
      this.proxy = new RemoteEndpoint({
        endpoint: this.opts.endpoint,
        headers: this.opts.headers,
        timeoutMs: this.opts.timeoutMs,
        guard: this.opts.guard,
        // A proxied session's GET stream holds a connection for its life: room for as many as the bridge's sessions.
        connections: Math.max(128, this.opts.limits.maxSessions),
      });
    }
    const { onProcessReady: _ready, onProcessExit: _exit, ...events } = this.opts.events ?? {};
    this.bridge = createIsolatedBridge({
      deploymentId: this.opts.deploymentId,
      spawn: (key) => this.openChannel(key),
      restart: this.opts.restart,
      limits: { ...this.opts.limits, requestTimeoutMs: this.opts.timeoutMs },
      events, // channels are not processes: their start and end are no deployment events
      log: this.opts.log,
      version: this.opts.version,
      timing: this.opts.timing,
      // No pool: a channel is a remote session, opened for a client only, with the client's own initialize.
      isolated: { warm: 0, maxWarm: 0, max: this.opts.limits.maxSessions, prime: false },
    });
    await this.bridge.start();
    const key = d.transport === 'streamable-http' && d.modern ? 'streamable-http+modern' : d.transport;
    this.opts.log?.(`remote transport ${setting === 'auto' ? 'detected' : 'set'}: ${d.transport}${d.modern && d.transport === 'streamable-http' ? ' + stateless' : ''} — the remote speaks ${DESCRIBE[key]} (${d.evidence.join('; ')})`);
  }

  async handle(req: IncomingMessage, res: ServerResponse, body: Buffer, client?: ClientIdentity): Promise<void> {
    const d = this.detection;
    const bridge = this.bridge;
    if (!d || !bridge) return sendError(res, new BerthError('UPSTREAM_UNAVAILABLE', 'The remote endpoint is not started'));
    if (this.proxy && this.proxied(d, req, body)) return this.proxy.handle(req, res, body);
    return bridge.handle(req, res, body, client);
  }

  handleLegacy(req: IncomingMessage, res: ServerResponse, body: Buffer, kind: 'sse' | 'message', basePath: string, client?: ClientIdentity): Promise<void> {
    const bridge = this.bridge;
    if (!bridge?.handleLegacy) {
      sendError(res, new BerthError('UPSTREAM_UNAVAILABLE', 'The remote endpoint is not started'));
      return Promise.resolve();
    }
    return bridge.handleLegacy(req, res, body, kind, basePath, client);
  }

  async probe(timeoutMs: number): Promise<{ tools: ToolSummary[] }> {
    const d = this.detection;
    if (!d || !this.bridge) throw new BerthError('UPSTREAM_UNAVAILABLE', 'The remote endpoint is not started');
    if (d.transport === 'streamable-http' && this.proxy) return this.proxy.probe(timeoutMs);
    if (d.transport === 'stateless') this.discovered = null; // a health probe refreshes what initialize answers from
    try {
      return await this.bridge.probe(timeoutMs);
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new BerthError('UPSTREAM_UNAVAILABLE', `Remote MCP server probe failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  stats(): EndpointStats {
    const b = this.bridge?.stats() ?? { sessions: 0, processes: 0, inFlight: 0 };
    const p = this.proxy?.stats() ?? { sessions: 0, processes: 0, inFlight: 0 };
    // Channels are connections, not processes: a url deployment runs nothing locally.
    return { sessions: b.sessions + p.sessions, processes: 0, inFlight: b.inFlight + p.inFlight };
  }

  async close(): Promise<void> {
    await this.bridge?.close();
    await this.proxy?.close();
    await this.http.close();
  }

  private proxied(d: Detection, req: IncomingMessage, body: Buffer): boolean {
    if (d.transport === 'stateless') return isModernRequest(req, body);
    if (d.transport === 'streamable-http') return d.modern || !isModernRequest(req, body);
    return false;
  }

  /** The remote's server/discover result, fetched once and kept (refreshed by health probes). */
  private discover(): Promise<Record<string, unknown>> {
    if (!this.discovered) {
      const p = fetchDiscover(this.http, this.detectTimeoutMs);
      this.discovered = p;
      p.catch(() => {
        if (this.discovered === p) this.discovered = null;
      });
    }
    return this.discovered;
  }

  private async openChannel(key: string): Promise<RemoteChannel> {
    const d = this.detection;
    const common = { http: this.http, key, log: this.opts.log };
    switch (d?.transport) {
      case 'sse':
        return openSseChannel({ ...common, connectTimeoutMs: this.detectTimeoutMs });
      case 'stateless':
        return new StatelessChannel({ ...common, discover: () => this.discover() });
      case 'streamable-http':
        return new StreamableChannel(common);
      default:
        throw new Error('the remote endpoint is not started');
    }
  }
}
