import type { DeploymentStatusView } from '../../src/api/contract.js';
import type { CreateDeploymentInput, DeploymentView } from '../../src/core/index.js';

/** Just enough of an API client for the end-to-end suites (the CLI's own client is tested separately). */
export class TestApi {
  constructor(
    private readonly base: string,
    private readonly token?: string,
  ) {}

  /** The Authorization header this client sends (empty without a token). */
  authHeaders(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /**
   * Deploys and returns the view. Unless the input says otherwise the deployment is `access: "public"`:
   * the protocol suites test MCP, not credentials, and their clients (the matrix's, the conformance
   * tool, the fuzzer) then need no token. Credentials on MCP routes are tested where that is the point
   * (test/e2e/auth-*.test.ts, mcp-clients.test.ts) with private deployments.
   */
  async deploy(input: CreateDeploymentInput): Promise<DeploymentView> {
    const r = await this.call<DeploymentView>('POST', '/api/deployments', { access: 'public', ...input });
    if (r.status !== 201) throw new Error(`deploy failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async status(id: string): Promise<DeploymentStatusView> {
    return (await this.call<DeploymentStatusView>('GET', `/api/deployments/${id}/status`)).body;
  }

  /** Poll until the controller has acted on the deployment's latest change (observed_generation caught up, not deploying). */
  async settled(id: string, timeoutMs = 60_000): Promise<DeploymentStatusView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status(id);
      if (s.observed_generation >= s.generation && s.status !== 'deploying' && s.status !== 'pending') return s;
      if (Date.now() > deadline) throw new Error(`deployment ${id} did not settle within ${timeoutMs}ms (last: ${JSON.stringify(s)})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Poll until the deployment reaches `want` (default running); fails fast on `failed`. */
  async waitFor(id: string, want: DeploymentStatusView['status'] = 'running', timeoutMs = 90_000): Promise<DeploymentStatusView> {
    const deadline = Date.now() + timeoutMs;
    let last: DeploymentStatusView | undefined;
    while (Date.now() < deadline) {
      last = await this.status(id);
      if (last.status === want) return last;
      if (last.status === 'failed' && want !== 'failed') {
        const logs = await this.call<{ items: { line: string }[] }>('GET', `/api/deployments/${id}/logs?tail=30`);
        throw new Error(`deployment ${id} failed: ${last.status_message}\n${logs.body.items.map((e) => e.line).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`deployment ${id} did not reach ${want} within ${timeoutMs}ms (last: ${JSON.stringify(last)})`);
  }
}
