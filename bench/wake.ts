import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { createSharedBridge } from '../src/mcp/bridge/shared.js';
import type { ServerSnapshot, SpawnProcess } from '../src/mcp/types.js';
import { ECHO_SERVER, FAST_RESTART, LIMITS, JSON_HEADERS, nodeSpawner, rawInitialize, serveEndpoint } from '../src/mcp/testing/helpers.js';

/**
 * The wake phase: from zero (a shared bridge started from a stored snapshot, nothing running) to the first
 * tools/call answer, against a bare cold start of the same server over stdio (spawn, initialize, call).
 */

/** One start, split into phases (ms): spawn (until the child runs), handshake (initialize answered), call. */
export interface WakeSample {
  spawn: number;
  handshake: number;
  call: number;
  total: number;
}

export interface WakeResult {
  rounds: number;
  cold: WakeSample[];
  wake: WakeSample[];
  /** A listing (tools/list) of the idle bridge: answered from the snapshot, no process started. */
  listMs: number[];
  /** Processes the bridge started for the listings (0 expected). */
  listSpawns: number;
}

const CALL = { name: 'echo', arguments: { text: 'wake' } };

/** spawn node ECHO_SERVER, initialize, tools/call over its stdio; times each step. */
async function coldStart(): Promise<WakeSample> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [ECHO_SERVER], { stdio: ['pipe', 'pipe', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  const t1 = performance.now();
  const lines = createInterface({ input: child.stdout! });
  const waiting = new Map<number, () => void>();
  lines.on('line', (l) => {
    const id = (JSON.parse(l) as { id?: number }).id;
    if (id !== undefined) waiting.get(id)?.();
  });
  const ask = (msg: Record<string, unknown>): Promise<void> =>
    new Promise((resolve) => {
      waiting.set(msg.id as number, resolve);
      child.stdin!.write(JSON.stringify({ jsonrpc: '2.0', ...msg }) + '\n');
    });
  await ask({ id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } });
  const t2 = performance.now();
  child.stdin!.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n');
  await ask({ id: 2, method: 'tools/call', params: CALL });
  const t3 = performance.now();
  lines.close();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { spawn: t1 - t0, handshake: t2 - t1, call: t3 - t2, total: t3 - t0 };
}

const bridgeOptions = (spawnFn: SpawnProcess, snapshot: ServerSnapshot | null, events: Parameters<typeof createSharedBridge>[0]['events']) => ({
  deploymentId: 'bench-wake',
  spawn: spawnFn,
  restart: FAST_RESTART,
  limits: LIMITS,
  scale: { idleMs: 600_000, snapshot },
  events,
});

/** The snapshot a running bridge learns of the echo server (what the control plane stores). */
async function learnSnapshot(): Promise<ServerSnapshot> {
  const spawner = nodeSpawner(ECHO_SERVER);
  let snap: ServerSnapshot | null = null;
  const bridge = createSharedBridge(bridgeOptions(spawner.spawn, null, { onSnapshot: (s) => void (snap = s) }));
  try {
    await bridge.start();
    const end = Date.now() + 15_000;
    while (!snap && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    if (!snap) throw new Error('the bridge learned no snapshot within 15 s');
    return JSON.parse(JSON.stringify(snap)) as ServerSnapshot;
  } finally {
    await bridge.close();
    await spawner.stopAll();
  }
}

/** A fresh bridge from the snapshot (nothing running), a session opened from it, then one tools/call over HTTP. */
async function wakeStart(snapshot: ServerSnapshot, listMs: number[]): Promise<{ sample: WakeSample; listSpawns: number }> {
  const spawner = nodeSpawner(ECHO_SERVER);
  const marks = { asked: 0, spawned: 0, ready: 0 };
  const timedSpawn: SpawnProcess = async (key) => {
    const proc = await spawner.spawn(key);
    marks.spawned = performance.now();
    return proc;
  };
  const bridge = createSharedBridge(bridgeOptions(timedSpawn, snapshot, { onProcessReady: () => void (marks.ready = performance.now()) }));
  const front = await serveEndpoint(bridge);
  try {
    await bridge.start();
    const sid = await rawInitialize(front.url);
    const post = async (body: Record<string, unknown>): Promise<string> => {
      const res = await fetch(front.url, { method: 'POST', headers: { ...JSON_HEADERS, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', ...body }) });
      const text = await res.text();
      if (res.status !== 200 || text.includes('"error"')) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
      return text;
    };
    const l0 = performance.now();
    await post({ id: 2, method: 'tools/list' });
    listMs.push(performance.now() - l0);
    const listSpawns = spawner.procs.length;
    marks.asked = performance.now();
    const answer = await post({ id: 3, method: 'tools/call', params: CALL });
    const done = performance.now();
    if (!answer.includes('wake')) throw new Error(`unexpected answer: ${answer.slice(0, 200)}`);
    return { sample: { spawn: marks.spawned - marks.asked, handshake: marks.ready - marks.spawned, call: done - marks.ready, total: done - marks.asked }, listSpawns };
  } finally {
    await front.close();
    await bridge.close();
    await spawner.stopAll();
  }
}

/** `rounds` of each, alternating which goes first, so drift of the machine lands on both. */
export async function measureWake(rounds: number): Promise<WakeResult> {
  const snapshot = await learnSnapshot();
  const out: WakeResult = { rounds, cold: [], wake: [], listMs: [], listSpawns: 0 };
  // One of each first, not counted: module caches and the JIT warm up.
  await coldStart();
  await wakeStart(snapshot, []);
  for (let i = 0; i < rounds; i++) {
    const runWake = async () => {
      const w = await wakeStart(snapshot, out.listMs);
      out.wake.push(w.sample);
      out.listSpawns += w.listSpawns;
    };
    if (i % 2 === 0) {
      out.cold.push(await coldStart());
      await runWake();
    } else {
      await runWake();
      out.cold.push(await coldStart());
    }
  }
  return out;
}
