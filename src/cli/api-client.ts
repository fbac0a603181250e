/**
 * The CLI's client for the REST control API (shapes in src/api/contract.ts).
 * Non-2xx answers become ApiClientError with the API's error code; a Berth that
 * cannot be reached becomes ApiClientError code UNREACHABLE.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { AuditEntry, CatalogDeployInput, CatalogEntry, CatalogList, GroupDetails, GroupList, GroupWithTroubles, SourceUpload, CreatedToken, DeploymentList, DeploymentStatusView, LogEntry, LogList, RevisionList, RotateResult, SecretInfo, SecretList, TokenView, WhoAmI } from '../api/contract.js';
import type { CreateDeploymentInput, DeploymentView } from '../core/index.js';
import { parseSse } from './sse.js';

export interface ApiClientOptions {
  /** Berth's base URL, e.g. http://127.0.0.1:8080 (a trailing slash is ignored). */
  baseUrl: string;
  token?: string;
  fetch?: typeof globalThis.fetch;
}

export interface FollowLogsOptions {
  tail?: number;
  signal?: AbortSignal;
  onEntry: (entry: LogEntry) => void;
}

export class ApiClientError extends Error {
  readonly code: string;
  /** HTTP status; 0 when Berth could not be reached. */
  readonly status: number;
  readonly details: unknown;

  constructor(code: string, message: string, status: number, details?: unknown) {
    super(message);
    this.name = 'ApiClientError';
    this.code = code;
    this.status = status;
    this.details = details;
  }
}

export class ApiClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly fetchFn: typeof globalThis.fetch;

  constructor(options: ApiClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new ApiClientError('INVALID_URL', `Not a valid Berth URL: ${options.baseUrl}`, 0);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ApiClientError('INVALID_URL', `Berth URL must be http(s): ${options.baseUrl}`, 0);
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token || undefined;
    this.fetchFn = options.fetch ?? globalThis.fetch;
  }

  /**
   * Creates a deployment with an Idempotency-Key, so the retries made here (Berth unreachable for a moment, or
   * still busy with the first attempt) can never create it twice.
   */
  async createDeployment(body: CreateDeploymentInput, opts: { key?: string; attempts?: number; retryDelayMs?: number } = {}): Promise<DeploymentView> {
    const key = opts.key ?? randomUUID();
    const attempts = opts.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.json<DeploymentView>('POST', '/api/deployments', body, { 'idempotency-key': key });
      } catch (err) {
        const retryable = err instanceof ApiClientError && (err.code === 'UNREACHABLE' || err.code === 'IDEMPOTENCY_IN_PROGRESS' || err.status === 502 || err.status === 503 || err.status === 504);
        if (!retryable || attempt >= attempts) throw err;
        await new Promise((r) => setTimeout(r, (opts.retryDelayMs ?? 500) * attempt));
      }
    }
  }

  /** POST /api/sources: stores a ZIP file (streamed from disk) and answers its digest and detection report. */
  uploadSource(zipFile: string): Promise<SourceUpload> {
    return this.binary('POST', '/api/sources', zipFile);
  }

  /** PUT /api/deployments/:id/source: a new revision from a ZIP file. */
  replaceSource(id: string, zipFile: string): Promise<DeploymentView> {
    return this.binary('PUT', `/api/deployments/${enc(id)}/source`, zipFile);
  }

  /**
   * A source deployment in one multipart request: the create body (its spec a source spec without `source`) and the
   * ZIP, streamed from disk. Retried like createDeployment, with the same Idempotency-Key (the file is read again).
   */
  async createSourceDeployment(body: Record<string, unknown>, zipFile: string, opts: { key?: string; attempts?: number; retryDelayMs?: number } = {}): Promise<DeploymentView> {
    const key = opts.key ?? randomUUID();
    const attempts = opts.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      try {
        const boundary = `berth-${randomUUID()}`;
        const head = Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="deployment"\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(body)}\r\n` +
            `--${boundary}\r\nContent-Disposition: form-data; name="source"; filename="source.zip"\r\nContent-Type: application/zip\r\n\r\n`,
        );
        const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
        const stream = Readable.from(
          (async function* () {
            yield head;
            yield* createReadStream(zipFile);
            yield tail;
          })(),
        );
        return await this.streamed<DeploymentView>('POST', '/api/deployments', stream, `multipart/form-data; boundary=${boundary}`, { 'idempotency-key': key });
      } catch (err) {
        const retryable = err instanceof ApiClientError && (err.code === 'UNREACHABLE' || err.code === 'IDEMPOTENCY_IN_PROGRESS' || err.status === 502 || err.status === 503 || err.status === 504);
        if (!retryable || attempt >= attempts) throw err;
        await new Promise((r) => setTimeout(r, (opts.retryDelayMs ?? 500) * attempt));
      }
    }
  }

  /** PATCH: `spec` is a JSON merge patch on the current spec. */
  updateDeployment(id: string, body: Record<string, unknown>): Promise<DeploymentView> {
    return this.json('PATCH', `/api/deployments/${enc(id)}`, body);
  }

  redeploy(id: string): Promise<DeploymentView> {
    return this.json('POST', `/api/deployments/${enc(id)}/redeploy`);
  }

  rollback(id: string, revision?: number): Promise<DeploymentView> {
    return this.json('POST', `/api/deployments/${enc(id)}/rollback`, revision === undefined ? {} : { revision });
  }

  restart(id: string): Promise<DeploymentView> {
    return this.json('POST', `/api/deployments/${enc(id)}/restart`);
  }

  revisions(id: string): Promise<RevisionList> {
    return this.json('GET', `/api/deployments/${enc(id)}/revisions`);
  }

  listDeployments(opts: { all?: boolean } = {}): Promise<DeploymentList> {
    return this.json('GET', opts.all ? '/api/deployments?all=1' : '/api/deployments');
  }

  /** The Authorization header this client sends (none without a token): `berth connect` sends it to MCP endpoints. */
  authHeaders(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  getDeployment(id: string): Promise<DeploymentView> {
    return this.json('GET', `/api/deployments/${enc(id)}`);
  }

  getStatus(id: string): Promise<DeploymentStatusView> {
    return this.json('GET', `/api/deployments/${enc(id)}/status`);
  }

  getLogs(id: string, tail?: number): Promise<LogList> {
    return this.json('GET', `/api/deployments/${enc(id)}/logs${tailQuery(tail, false)}`);
  }

  /** Streams log entries (the tail first, then new ones) until the stream ends or `signal` aborts. */
  async followLogs(id: string, options: FollowLogsOptions): Promise<void> {
    const { signal, onEntry } = options;
    let res: Response;
    try {
      res = await this.request('GET', `/api/deployments/${enc(id)}/logs${tailQuery(options.tail, true)}`, undefined, {
        accept: 'text/event-stream',
        signal,
      });
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
    if (!res.ok) throw await errorFrom(res);
    if (!res.body) return;
    try {
      for await (const event of parseSse(res.body)) {
        if (event.event !== 'log') continue;
        onEntry(JSON.parse(event.data) as LogEntry);
      }
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
  }

  stop(id: string): Promise<DeploymentView> {
    return this.json('POST', `/api/deployments/${enc(id)}/stop`);
  }

  start(id: string): Promise<DeploymentView> {
    return this.json('POST', `/api/deployments/${enc(id)}/start`);
  }

  remove(id: string, opts: { keepLogs?: boolean } = {}): Promise<DeploymentView> {
    return this.json('DELETE', `/api/deployments/${enc(id)}${opts.keepLogs ? '?keep_logs=1' : ''}`);
  }

  whoami(): Promise<WhoAmI> {
    return this.json('GET', '/api/whoami');
  }

  createToken(body: { name?: string; scopes: string[]; expires_in?: string }): Promise<CreatedToken> {
    return this.json('POST', '/api/tokens', body);
  }

  listTokens(): Promise<{ items: TokenView[] }> {
    return this.json('GET', '/api/tokens');
  }

  revokeToken(id: string): Promise<TokenView> {
    return this.json('DELETE', `/api/tokens/${enc(id)}`);
  }

  /** The audit log as JSON, or exported (`format` csv or ndjson) as text. */
  audit(query: URLSearchParams): Promise<{ items: AuditEntry[] }> {
    return this.json('GET', `/api/audit?${query.toString()}`);
  }

  async auditExport(query: URLSearchParams): Promise<string> {
    const res = await this.request('GET', `/api/audit?${query.toString()}`, undefined, { accept: '*/*' });
    if (!res.ok) throw await errorFrom(res);
    return res.text();
  }

  /** `scope` is a deployment id or `global`. */
  listSecrets(scope: string): Promise<SecretList> {
    return this.json('GET', secretsPath(scope));
  }

  setSecret(scope: string, name: string, value: string): Promise<SecretInfo> {
    return this.json('PUT', `${secretsPath(scope)}/${enc(name)}`, { value });
  }

  async deleteSecret(scope: string, name: string): Promise<void> {
    const res = await this.request('DELETE', `${secretsPath(scope)}/${enc(name)}`, undefined, { accept: 'application/json' });
    if (!res.ok) throw await errorFrom(res);
    await res.body?.cancel();
  }

  listCatalog(q?: string): Promise<CatalogList> {
    return this.json('GET', q ? `/api/catalog?q=${encodeURIComponent(q)}` : '/api/catalog');
  }

  getCatalogEntry(name: string): Promise<CatalogEntry> {
    return this.json('GET', `/api/catalog/${enc(name)}`);
  }

  addCatalogEntry(server: unknown, name?: string): Promise<CatalogEntry> {
    return this.json('POST', `/api/catalog${name ? `?name=${encodeURIComponent(name)}` : ''}`, server);
  }

  removeCatalogEntry(name: string): Promise<CatalogEntry> {
    return this.json('DELETE', `/api/catalog/${enc(name)}`);
  }

  /** Deploys a catalog template, with an Idempotency-Key (retried like createDeployment). */
  async deployCatalog(name: string, body: CatalogDeployInput, opts: { attempts?: number; retryDelayMs?: number } = {}): Promise<DeploymentView> {
    const key = randomUUID();
    const attempts = opts.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.json<DeploymentView>('POST', `/api/catalog/${enc(name)}/deploy`, body, { 'idempotency-key': key });
      } catch (err) {
        const retryable = err instanceof ApiClientError && (err.code === 'UNREACHABLE' || err.code === 'IDEMPOTENCY_IN_PROGRESS' || err.status === 502 || err.status === 503 || err.status === 504);
        if (!retryable || attempt >= attempts) throw err;
        await new Promise((r) => setTimeout(r, (opts.retryDelayMs ?? 500) * attempt));
      }
    }
  }

  listGroups(): Promise<GroupList> {
    return this.json('GET', '/api/groups');
  }

  getGroup(name: string): Promise<GroupWithTroubles> {
    return this.json('GET', `/api/groups/${enc(name)}`);
  }

  createGroup(body: unknown): Promise<GroupDetails> {
    return this.json('POST', '/api/groups', body);
  }

  updateGroup(name: string, body: unknown): Promise<GroupDetails> {
    return this.json('PATCH', `/api/groups/${enc(name)}`, body);
  }

  async deleteGroup(name: string): Promise<void> {
    const res = await this.request('DELETE', `/api/groups/${enc(name)}`, undefined, { accept: 'application/json' });
    if (!res.ok) throw await errorFrom(res);
    await res.body?.cancel();
  }

  rotateKey(): Promise<RotateResult> {
    return this.json('POST', '/api/secrets/rotate-key');
  }

  private async json<T>(method: string, path: string, body?: unknown, extraHeaders?: Record<string, string>): Promise<T> {
    const res = await this.request(method, path, body, { accept: 'application/json', headers: extraHeaders });
    if (!res.ok) throw await errorFrom(res);
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiClientError('INVALID_RESPONSE', `Berth answered ${method} ${path} with something that is not JSON`, res.status);
    }
  }

  private binary<T>(method: string, path: string, zipFile: string): Promise<T> {
    return this.streamed<T>(method, path, createReadStream(zipFile), 'application/zip');
  }

  /** A request whose body streams from `body` (never read whole into memory). */
  private async streamed<T>(method: string, path: string, body: Readable, type: string, extraHeaders: Record<string, string> = {}): Promise<T> {
    const headers: Record<string, string> = { ...extraHeaders, accept: 'application/json', 'content-type': type };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await this.fetchFn(`${this.baseUrl}${path}`, { method, headers, body: Readable.toWeb(body) as ReadableStream, duplex: 'half' } as RequestInit);
    } catch (err) {
      body.destroy();
      const local = (err as NodeJS.ErrnoException).code === 'ENOENT' || (err as { cause?: { code?: string } }).cause?.code === 'ENOENT';
      if (local) throw err;
      throw new ApiClientError('UNREACHABLE', `Cannot reach Berth at ${this.baseUrl} — is it running? (npm start)${causeOf(err)}`, 0);
    }
    if (!res.ok) throw await errorFrom(res);
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiClientError('INVALID_RESPONSE', `Berth answered ${method} ${path} with something that is not JSON`, res.status);
    }
  }

  private async request(
    method: string,
    path: string,
    body: unknown,
    opts: { accept: string; signal?: AbortSignal | undefined; headers?: Record<string, string> | undefined },
  ): Promise<Response> {
    const headers: Record<string, string> = { ...opts.headers, accept: opts.accept };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    try {
      return await this.fetchFn(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: opts.signal,
      });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      throw new ApiClientError(
        'UNREACHABLE',
        `Cannot reach Berth at ${this.baseUrl} — is it running? (npm start)${causeOf(err)}`,
        0,
      );
    }
  }
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

function secretsPath(scope: string): string {
  return scope === 'global' ? '/api/secrets/global' : `/api/deployments/${enc(scope)}/secrets`;
}

function tailQuery(tail: number | undefined, follow: boolean): string {
  const params = new URLSearchParams();
  if (tail !== undefined) params.set('tail', String(tail));
  if (follow) params.set('follow', '1');
  const q = params.toString();
  return q ? `?${q}` : '';
}

function causeOf(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  const code = cause && typeof cause.code === 'string' ? cause.code : undefined;
  return code && code !== 'ECONNREFUSED' ? ` [${code}]` : '';
}

async function errorFrom(res: Response): Promise<ApiClientError> {
  const text = await res.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    const e = parsed.error;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      return new ApiClientError(e.code, e.message, res.status, e.details);
    }
  } catch {
    // not JSON: fall through
  }
  const reason = res.statusText ? ` ${res.statusText}` : '';
  return new ApiClientError(`HTTP_${res.status}`, `Berth answered HTTP ${res.status}${reason}`, res.status);
}
