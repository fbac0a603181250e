import type { ToolSummary } from '../core/index.js';
import type { McpEndpoint } from '../mcp/types.js';

export interface HealthTarget {
  id: string;
  endpoint: Pick<McpEndpoint, 'probe'>;
  intervalMs: number;
  timeoutMs: number;
  failuresBeforeRestart: number;
}

export interface HealthMonitorDeps {
  tickMs: number;
  targets(): HealthTarget[];
  onHealthy(id: string, tools: ToolSummary[]): void | Promise<void>;
  onUnhealthy(id: string, failures: number, limit: number, err: unknown): void | Promise<void>;
}

/**
 * Periodic MCP probes (tools/list) of every running deployment, on one timer.
 * Counts consecutive failures and reports them; the reconciler decides to restart.
 */
export class HealthMonitor {
  private readonly state = new Map<string, { nextAt: number; failures: number; probing: boolean }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: HealthMonitorDeps) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.deps.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A deployment (re)started: first probe one interval from now, failures cleared. */
  reset(id: string): void {
    this.state.delete(id);
  }

  forget(id: string): void {
    this.state.delete(id);
  }

  /** Probe at the next tick (e.g. the tool list changed). */
  probeSoon(id: string): void {
    const s = this.state.get(id);
    if (s) s.nextAt = 0;
  }

  /** One pass over the targets; public so tests can drive it without waiting. */
  tick(now = Date.now()): void {
    for (const t of this.deps.targets()) {
      let s = this.state.get(t.id);
      if (!s) {
        s = { nextAt: now + t.intervalMs, failures: 0, probing: false };
        this.state.set(t.id, s);
        continue;
      }
      if (s.probing || now < s.nextAt) continue;
      s.probing = true;
      const st = s;
      t.endpoint.probe(t.timeoutMs).then(
        async ({ tools }) => {
          st.failures = 0;
          st.probing = false;
          st.nextAt = Date.now() + t.intervalMs;
          await this.deps.onHealthy(t.id, tools);
        },
        async (err: unknown) => {
          st.failures++;
          st.probing = false;
          st.nextAt = Date.now() + Math.min(t.intervalMs, 5000);
          const failures = st.failures;
          if (failures >= t.failuresBeforeRestart) this.state.delete(t.id);
          await this.deps.onUnhealthy(t.id, failures, t.failuresBeforeRestart, err);
        },
      ).catch(() => {});
    }
  }
}
