/**
 * A stand-in for Berth's REST API, just big enough for the CLI's tests: real HTTP on
 * 127.0.0.1, in-memory deployments, scripted status sequences, logs and an SSE follow stream.
 * It is not the real API (src/api/); it follows the shapes of src/api/contract.ts.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach } from 'vitest';
import type { DeploymentStatusView, LogEntry, LogStream } from '../../api/contract.js';
import type { CreateDeploymentInput, DeploymentStatus, DeploymentView } from '../../core/index.js';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface ScriptStep {
  status: DeploymentStatus;
  message?: string;
}

export interface StandInApi {
  url: string;
  requests: RecordedRequest[];
  deployments: Map<string, DeploymentView>;
  /** Statuses returned by successive GET …/status calls per id; the last one repeats. */
  scripts: Map<string, ScriptStep[]>;
  logs: Map<string, LogEntry[]>;
  /** Secret values by scope (deployment id or `global`) and name, as the CLI sent them. */
  secrets: Map<string, Map<string, string>>;
  /** Rotations asked for. */
  rotations: number;
  addDeployment(partial: Partial<DeploymentView> & { id: string }): DeploymentView;
  appendLog(id: string, stream: LogStream, line: string): LogEntry;
  /** Ends every open follow stream. */
  endFollowers(): void;
  followerCount(): number;
  close(): Promise<void>;
}

export interface StandInOptions {
  /** Script for new deployments (default: deploying, then running). */
  script?: (input: CreateDeploymentInput) => ScriptStep[];
  /** Require `Authorization: Bearer <token>`. */
  token?: string;
}

function error(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code, message } });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as unknown) : undefined;
}

export function makeView(partial: Partial<DeploymentView> & { id: string }, baseUrl: string): DeploymentView {
  const now = new Date().toISOString();
  return {
    name: partial.id.replace(/-[a-z0-9]{12}$/, ''),
    access: 'private',
    description: null,
    tags: [],
    env_schema: [],
    spec: { type: 'process', command: 'true', args: [], env: {}, mode: 'shared', isolated: { max_sessions: 32, warm: 1 }, health: { interval_s: 30, timeout_s: 10, failures_before_restart: 3 } },
    desired: 'running',
    status: 'running',
    status_message: null,
    request_count: 0,
    last_request_at: null,
    revision: 1,
    serving_revision: 1,
    generation: 1,
    observed_generation: 1,
    tools: null,
    restart_count: 0,
    created_at: now,
    updated_at: now,
    started_at: now,
    stopped_at: null,
    deleted_at: null,
    endpoint: `${baseUrl}/s/${partial.id}/mcp`,
    uptime_s: 0,
    ...partial,
  };
}

export async function startStandInApi(options: StandInOptions = {}): Promise<StandInApi> {
  const requests: RecordedRequest[] = [];
  const deployments = new Map<string, DeploymentView>();
  const scripts = new Map<string, ScriptStep[]>();
  const logs = new Map<string, LogEntry[]>();
  const secrets = new Map<string, Map<string, string>>();
  const followers = new Map<string, Set<ServerResponse>>();
  let counter = 0;
  let baseUrl = '';

  const appendLog = (id: string, stream: LogStream, line: string): LogEntry => {
    const list = logs.get(id) ?? [];
    const entry: LogEntry = { seq: list.length + 1, ts: new Date(Date.UTC(2026, 0, 1, 0, 0, list.length)).toISOString(), stream, line };
    list.push(entry);
    logs.set(id, list);
    for (const res of followers.get(id) ?? []) res.write(`event: log\ndata: ${JSON.stringify(entry)}\n\n`);
    return entry;
  };

  const statusOf = (d: DeploymentView): DeploymentStatusView => {
    const script = scripts.get(d.id);
    const step = script && script.length > 1 ? script.shift() : script?.[0];
    if (step) Object.assign(d, { status: step.status, status_message: step.message ?? null });
    return {
      id: d.id,
      name: d.name,
      status: d.status,
      desired: d.desired,
      status_message: d.status_message,
      runtime: d.spec.type === 'url' ? null : d.spec.type === 'image' ? 'container' : (d.spec.runtime ?? 'process'),
      ready: d.status === 'running',
      endpoint: d.endpoint,
      revision: d.revision,
      serving_revision: d.serving_revision,
      generation: d.generation,
      observed_generation: d.observed_generation,
      scale: (d as Partial<DeploymentStatusView>).scale ?? null,
      restart_count: d.restart_count,
      tools_count: d.tools?.length ?? null,
      sessions: 2,
      processes: 1,
      uptime_s: d.uptime_s,
      // A test may give a deployment these (addDeployment) to see how the CLI shows them.
      sandbox: (d as Partial<DeploymentStatusView>).sandbox ?? null,
      limits: (d as Partial<DeploymentStatusView>).limits ?? null,
      last_exit: (d as Partial<DeploymentStatusView>).last_exit ?? null,
      usage: (d as Partial<DeploymentStatusView>).usage ?? [],
    };
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const body = req.method === 'POST' || req.method === 'PUT' ? await readBody(req) : undefined;
    requests.push({ method: req.method ?? '', path: url.pathname + url.search, headers: req.headers, body });
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
      return error(res, 401, 'UNAUTHORIZED', 'Missing or wrong API token');
    }
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (url.pathname === '/api/whoami') return send(res, 200, { id: 'tok_standin', name: 'stand-in', scopes: ['admin'] });
    if (parts[0] === 'api' && parts[1] === 'secrets') {
      if (parts[2] === 'rotate-key' && req.method === 'POST') {
        api.rotations++;
        return send(res, 200, { key_id: `key${api.rotations}`, reencrypted: [...secrets.values()].reduce((n, m) => n + m.size, 0) });
      }
      if (parts[2] === 'global') return secretRoute(req, res, 'global', parts[3], body);
      return error(res, 404, 'NOT_FOUND', 'No such route');
    }
    if (parts[0] !== 'api' || parts[1] !== 'deployments') return error(res, 404, 'NOT_FOUND', 'No such route');
    const [, , id, action] = parts;
    if (id === undefined) {
      if (req.method === 'GET') return send(res, 200, { items: [...deployments.values()] });
      if (req.method !== 'POST') return error(res, 405, 'METHOD_NOT_ALLOWED', 'HTTP method not allowed on this endpoint');
      const input = body as CreateDeploymentInput;
      const newId = `${input.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${String(++counter).padStart(12, '0')}`;
      const start = input.start ?? true;
      const view = makeView({ id: newId, name: input.name, access: input.access ?? 'private', status: start ? 'pending' : 'stopped', desired: start ? 'running' : 'stopped' }, baseUrl);
      deployments.set(newId, view);
      scripts.set(newId, start ? (options.script?.(input) ?? [{ status: 'deploying' }, { status: 'running' }]) : []);
      return send(res, 201, view);
    }
    const d = deployments.get(id);
    if (!d) return error(res, 404, 'DEPLOYMENT_NOT_FOUND', `No deployment with id ${id}`);
    if (action === 'secrets') return secretRoute(req, res, id, parts[4], body);
    if (req.method === 'GET' && action === undefined) return send(res, 200, d);
    if (req.method === 'GET' && action === 'status') return send(res, 200, statusOf(d));
    if (req.method === 'GET' && action === 'logs') {
      const tail = Number(url.searchParams.get('tail') ?? 200);
      const items = (logs.get(id) ?? []).slice(-tail);
      if (url.searchParams.get('follow') !== '1') return send(res, 200, { items });
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(': keepalive\n\n');
      // An event of another type, which a log follower must skip.
      res.write(`event: other\ndata: ${JSON.stringify({ seq: 0, ts: 'x', stream: 'system', line: 'not a log event' })}\n\n`);
      for (const e of items) res.write(`event: log\ndata: ${JSON.stringify(e)}\n\n`);
      const set = followers.get(id) ?? new Set();
      set.add(res);
      followers.set(id, set);
      res.on('close', () => set.delete(res));
      return;
    }
    if (req.method === 'POST' && (action === 'stop' || action === 'start')) {
      Object.assign(d, action === 'stop' ? { status: 'stopped', desired: 'stopped' } : { status: 'deploying', desired: 'running' });
      return send(res, 200, d);
    }
    if (req.method === 'DELETE' && action === undefined) {
      Object.assign(d, { status: 'deleted', desired: 'deleted', deleted_at: new Date().toISOString() });
      return send(res, 200, d);
    }
    return error(res, 404, 'NOT_FOUND', 'No such route');
  }

  function secretRoute(req: IncomingMessage, res: ServerResponse, scope: string, name: string | undefined, body: unknown): void {
    const scoped = secrets.get(scope) ?? new Map<string, string>();
    secrets.set(scope, scoped);
    const at = '2026-01-01T00:00:00.000Z';
    if (name === undefined && req.method === 'GET') return send(res, 200, { items: [...scoped.keys()].sort().map((n) => ({ name: n, updated_at: at })) });
    if (name !== undefined && req.method === 'PUT') {
      const value = (body as { value?: unknown } | undefined)?.value;
      if (typeof value !== 'string' || value === '') return error(res, 400, 'VALIDATION_FAILED', 'Invalid secret: value: must not be empty');
      scoped.set(name, value);
      return send(res, 200, { name, updated_at: at });
    }
    if (name !== undefined && req.method === 'DELETE') {
      if (!scoped.delete(name)) return error(res, 400, 'SECRET_NOT_FOUND', `No secret ${name} in ${scope}`);
      return void res.writeHead(204).end();
    }
    return error(res, 405, 'METHOD_NOT_ALLOWED', 'HTTP method not allowed on this endpoint');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => error(res, 500, 'INTERNAL', String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const api: StandInApi = {
    url: baseUrl,
    requests,
    deployments,
    scripts,
    logs,
    secrets,
    rotations: 0,
    addDeployment(partial) {
      const view = makeView(partial, baseUrl);
      deployments.set(view.id, view);
      return view;
    },
    appendLog,
    endFollowers() {
      for (const set of followers.values()) for (const res of set) res.end();
    },
    followerCount: () => [...followers.values()].reduce((n, s) => n + s.size, 0),
    close() {
      for (const set of followers.values()) for (const res of set) res.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return api;
}

/** For a describe block: a fresh stand-in before each test (closed after it), and a CLI env that points at it. */
export function useStandInApi(): { api: StandInApi; env: Record<string, string> } {
  const ctx = {} as { api: StandInApi; env: Record<string, string> };
  beforeEach(async () => {
    ctx.api = await startStandInApi();
    ctx.env = { BERTH_URL: ctx.api.url };
  });
  afterEach(() => ctx.api.close());
  return ctx;
}
