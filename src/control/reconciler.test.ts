import { afterEach, describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.js';
import type { Deployment, DeploymentSpec } from '../core/index.js';
import { MemoryEventBus } from '../events/memory-bus.js';
import type { BridgeEvents, EndpointStats } from '../mcp/types.js';
import { MemoryDeploymentStore } from '../store/memory-store.js';
import { MemoryLogStore } from '../telemetry/memory-logs.js';
import type { WorkloadState } from '../runtime/types.js';
import { Reconciler, SHARED_INSTANCE_KEY, type ManagedEndpoint } from './reconciler.js';

/** A scripted endpoint: what start() and probe() do is set per test. */
class FakeEndpoint implements ManagedEndpoint {
  started = 0;
  closed = 0;
  probes = 0;
  constructor(
    readonly events: BridgeEvents,
    private readonly script: { start?: () => Promise<void>; probe?: (self: FakeEndpoint) => Promise<{ tools: { name: string }[] }> },
  ) {}
  async start() {
    this.started++;
    await this.script.start?.();
  }
  async probe() {
    this.probes++;
    return this.script.probe ? this.script.probe(this) : { tools: [{ name: 'echo' }] };
  }
  async handle() {}
  stats(): EndpointStats {
    return { sessions: 0, processes: 1, inFlight: 0 };
  }
  async close() {
    this.closed++;
  }
}

const SPEC: DeploymentSpec = {
  type: 'process',
  command: 'node',
  args: [],
  env: {},
  mode: 'shared',
  isolated: { max_sessions: 4, warm: 0 },
  health: { interval_s: 1, timeout_s: 1, failures_before_restart: 2 },
};

function setup(script: ConstructorParameters<typeof FakeEndpoint>[1] = {}, workloads: WorkloadState[] = []) {
  const store = new MemoryDeploymentStore();
  const logs = new MemoryLogStore();
  const bus = new MemoryEventBus();
  const endpoints: FakeEndpoint[] = [];
  const reaped: string[] = [];
  const stopped: string[] = [];
  const r = new Reconciler({
    store,
    logs,
    bus,
    runtime: {
      reapOrphans: async () => (reaped.push('x'), []),
      stopAll: async () => {},
      // What the runtime reports (a stand-in for its list; the real drivers' list is their contract suite's).
      list: async () => workloads,
      stop: async (id, opts) => void stopped.push(`${id}#${opts?.revision ?? '*'}`),
    },
    makeEndpoint: (_d: Deployment, events) => {
      const e = new FakeEndpoint(events, script);
      endpoints.push(e);
      return e;
    },
    startTimeoutMs: 500,
    stopGraceMs: 10,
    healthTickMs: 20,
  });
  const create = (id: string, desired: 'running' | 'stopped' = 'running') =>
    store.create({ id, name: id, access: 'private', description: null, tags: [], env_schema: [], spec: SPEC, desired, status: desired === 'running' ? 'pending' : 'stopped', status_message: null });
  return { store, logs, bus, r, endpoints, reaped, stopped, create };
}

let current: ReturnType<typeof setup> | undefined;
afterEach(async () => {
  await current?.r.shutdown();
  current = undefined;
});

describe('Reconciler (in-memory store, scripted endpoints)', () => {
  it('starts a deployment, marks it running only after a probe, and caches the tool list', async () => {
    const t = (current = setup());
    await t.create('a');
    await t.r.start();
    expect(t.reaped).toHaveLength(1);
    const d = (await t.store.get('a'))!;
    expect(d.status).toBe('running');
    expect(d.tools).toEqual([{ name: 'echo' }]);
    expect(d.started_at).not.toBeNull();
    expect(t.endpoints[0]!.started).toBe(1);
    expect(await t.r.endpointFor('a')).toBe(t.endpoints[0]);
  });

  it('resync ends what no deployment wants, and what a previous Berth left of a revision that is not serving; never the serving revision', async () => {
    const found = (deploymentId: string, revision: number, owned: boolean): WorkloadState => ({ deploymentId, revision, labels: {}, phase: 'running', pids: [], lastExit: null, address: null, owned });
    const t = (current = setup({}, [found('a', 1, false), found('a', 7, false), found('gone', 1, true), found('a', 1, true)]));
    await t.create('a');
    await t.r.start();
    expect((await t.store.get('a'))!.status).toBe('running');
    await t.r.resync();
    // 'a' serves revision 1: the revision 7 a previous Berth left goes, revision 1 (its own or adopted) stays.
    expect([...new Set(t.stopped)].sort()).toEqual(['a#7', 'gone#1']);
    expect((await t.logs.read('a')).map((e) => e.line)).toContainEqual("ended revision 7's workload: left by a previous Berth, while revision 1 serves (resync)");
  });

  it('after a failed rollout and a Berth restart, the revision that served before starts again instead of nothing serving', async () => {
    const store = new MemoryDeploymentStore();
    const logs = new MemoryLogStore();
    const made: number[] = [];
    const reconciler = () =>
      new Reconciler({
        store,
        logs,
        bus: new MemoryEventBus(),
        runtime: { reapOrphans: async () => [], stopAll: async () => {} },
        // Revision 2 never starts: its endpoint fails as a broken build would.
        makeEndpoint: (d: Deployment, events) => (made.push(d.revision), new FakeEndpoint(events, d.revision === 2 ? { start: async () => Promise.reject(new Error('revision 2 is broken')) } : {})),
        startTimeoutMs: 500,
        stopGraceMs: 10,
        healthTickMs: 1000,
      });
    await store.create({ id: 'roll', name: 'roll', access: 'private', description: null, tags: [], env_schema: [], spec: SPEC, desired: 'running', status: 'pending', status_message: null });
    const first = reconciler();
    await first.start();
    expect((await store.get('roll'))!.serving_revision).toBe(1);
    await store.addRevision('roll', { spec: { ...SPEC, args: ['v2'] }, env_schema: [], reason: 'update', from_revision: 1, created_by: null });
    await first.reconcile('roll');
    expect(await store.get('roll')).toMatchObject({ revision: 2, serving_revision: 1, status: 'running' });
    await first.shutdown();

    made.length = 0;
    const second = reconciler();
    current = { r: second } as ReturnType<typeof setup>;
    await second.start();
    expect(made).toEqual([2, 1]);
    const d = (await store.get('roll'))!;
    expect(d).toMatchObject({ revision: 2, serving_revision: 1, status: 'running' });
    expect(d.status_message).toMatch(/revision 2 failed to start; revision 1 serves/);
    expect((await logs.read('roll')).map((e) => e.line).join('\n')).toMatch(/revision 1, which served before, starts instead/);
    // And it stays so: the next passes do not try revision 2 again (its generation was acted on).
    await second.reconcile('roll');
    expect(made).toEqual([2, 1]);
  });

  it('marks a deployment failed with the reason when start or the first probe fails, and closes it', async () => {
    const t = (current = setup({ probe: async () => Promise.reject(new Error('no tools for you')) }));
    await t.create('b');
    await t.r.start();
    const d = (await t.store.get('b'))!;
    expect(d.status).toBe('failed');
    expect(d.status_message).toContain('no tools for you');
    expect(t.endpoints[0]!.closed).toBe(1);
    await expect(t.r.endpointFor('b')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });

  it('times out a start that hangs', async () => {
    const t = (current = setup({ start: () => new Promise(() => {}) }));
    await t.create('c');
    await t.r.start();
    expect((await t.store.get('c'))!.status_message).toMatch(/did not start within/);
  });

  it('stops, deletes and answers endpointFor with stable codes', async () => {
    const t = (current = setup());
    await t.create('d');
    await t.create('s', 'stopped');
    await t.r.start();
    expect(t.endpoints).toHaveLength(1);
    await expect(t.r.endpointFor('s')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    await expect(t.r.endpointFor('nope')).rejects.toMatchObject({ code: 'DEPLOYMENT_NOT_FOUND' });
    await t.store.update('d', { desired: 'stopped' });
    await t.r.reconcile('d');
    expect((await t.store.get('d'))!.status).toBe('stopped');
    expect(t.endpoints[0]!.closed).toBe(1);
    await t.store.update('d', { desired: 'deleted' });
    await t.r.reconcile('d');
    expect((await t.store.get('d'))!.status).toBe('deleted');
    await expect(t.r.endpointFor('d')).rejects.toBeInstanceOf(BerthError);
  });

  it('runs one pass per deployment at a time, so concurrent reconciles never start two endpoints', async () => {
    const t = (current = setup({ start: () => new Promise((r) => setTimeout(r, 50)) }));
    await t.create('e');
    await Promise.all([t.r.reconcile('e'), t.r.reconcile('e'), t.r.reconcile('e')]);
    expect(t.endpoints).toHaveLength(1);
    expect((await t.store.get('e'))!.status).toBe('running');
  });

  it('follows the shared process through a crash (deploying, restart counted) and back to running', async () => {
    const t = (current = setup());
    await t.create('f');
    await t.r.start();
    const ev = t.endpoints[0]!.events;
    ev.onProcessExit?.({ pid: 1, instanceKey: SHARED_INSTANCE_KEY, exit: { code: 1, signal: null }, expected: false });
    await new Promise((r) => setTimeout(r, 20));
    let d = (await t.store.get('f'))!;
    expect(d.status).toBe('deploying');
    expect(d.restart_count).toBe(1);
    ev.onProcessReady?.({ pid: 2, instanceKey: SHARED_INSTANCE_KEY });
    await new Promise((r) => setTimeout(r, 20));
    d = (await t.store.get('f'))!;
    expect(d.status).toBe('running');
    ev.onGaveUp?.('crashed 5 times');
    await new Promise((r) => setTimeout(r, 20));
    expect((await t.store.get('f'))!.status).toBe('failed');
    await expect(t.r.endpointFor('f')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });

  it('names an out-of-memory kill in the status message, the log and the last exit, which outlives the restart', async () => {
    const t = (current = setup());
    await t.create('m');
    await t.r.start();
    expect(t.r.lastExit('m')).toBeNull();
    const ev = t.endpoints[0]!.events;
    const reason = 'out of memory: killed at the 512 MiB limit';
    ev.onProcessExit?.({ pid: 7, instanceKey: SHARED_INSTANCE_KEY, exit: { code: null, signal: 'SIGKILL', reason }, expected: false });
    await new Promise((r) => setTimeout(r, 20));
    expect((await t.store.get('m'))!.status_message).toBe(`${reason}; restarting`);
    expect((await t.logs.read('m', { tail: 10 })).map((e) => e.line)).toContain(`process 7 (main) exited unexpectedly with signal SIGKILL: ${reason}`);
    ev.onProcessReady?.({ pid: 8, instanceKey: SHARED_INSTANCE_KEY });
    await new Promise((r) => setTimeout(r, 20));
    expect((await t.store.get('m'))!.status).toBe('running');
    expect(t.r.lastExit('m')).toMatchObject({ pid: 7, instance_key: 'main', exit: 'signal SIGKILL', reason });
    // An exit Berth asked for is not one.
    ev.onProcessExit?.({ pid: 8, instanceKey: SHARED_INSTANCE_KEY, exit: { code: 0, signal: null }, expected: true });
    expect(t.r.lastExit('m')).toMatchObject({ pid: 7 });
  });

  it('restarts a deployment after consecutive failed health probes', async () => {
    // The first endpoint turns unhealthy after its start-up probe; its replacement is fine.
    const first: FakeEndpoint[] = [];
    const t = (current = setup({
      probe: async (self: FakeEndpoint): Promise<{ tools: { name: string }[] }> => {
        if (first.length === 0) first.push(self);
        if (self === first[0] && self.probes > 1) throw new Error('probe timed out');
        return { tools: [{ name: 'echo' }] };
      },
    }));
    await t.create('g');
    await t.r.start();
    for (let i = 0; i < 100 && t.endpoints.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(t.endpoints.length).toBeGreaterThanOrEqual(2);
    expect(t.endpoints[0]!.closed).toBe(1);
    for (let i = 0; i < 40 && (await t.store.get('g'))!.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 50));
    const d = (await t.store.get('g'))!;
    expect(d.status).toBe('running');
    expect(d.restart_count).toBeGreaterThanOrEqual(1);
    const lines = (await t.logs.read('g', { tail: 100 })).map((e) => e.line).join('\n');
    expect(lines).toContain('health probe failed (2/2)');
  });
});

describe('Reconciler suspend and start again (the reconciler lease lost, then won back)', () => {
  it('closes every endpoint on suspend, ignores events while suspended, and brings deployments back on the next start', async () => {
    const t = (current = setup());
    await t.create('a');
    await t.r.start();
    expect(t.endpoints).toHaveLength(1);
    await t.r.suspend();
    expect(t.endpoints[0]!.closed).toBe(1);
    // An event while suspended starts nothing (another Berth leads now).
    await t.create('b');
    await t.bus.publish({ type: 'DeploymentCreated', id: 'b', at: new Date().toISOString() });
    expect(t.endpoints).toHaveLength(1);
    await t.r.start();
    expect(t.endpoints.map((e) => e.started)).toEqual([1, 1, 1]);
    expect((await t.store.get('b'))?.status).toBe('running');
    expect(t.reaped).toHaveLength(2);
  });
});
