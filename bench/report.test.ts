import { describe, expect, it } from 'vitest';
import { mergeCells, type CellResult } from './load.js';
import { buildReport, type BenchResults, type TargetResult } from './report.js';

/** A cell of `n` calls of `ms` each in a one-second window. */
const cell = (c: number, n: number, ms: number, errors = 0): CellResult => ({
  c,
  latencies: Array.from({ length: n }, () => ms),
  measureMs: 1000,
  opens: [1],
  attempts: n + errors,
  errors,
  firstError: errors ? 'boom' : null,
});
const target = (name: string, rps: number, ms: number, errors = 0): TargetResult => ({ name, cells: [cell(1, rps, ms, errors), cell(64, rps, ms, errors)], serialOpens: [0.5, 0.6] });

function results(over: Partial<BenchResults> = {}): BenchResults {
  return {
    meta: { header: ['# bench'], levels: [1, 64], isoWarm: 4, idleSessions: 10 },
    targets: [target('direct', 1000, 1), target('gateway', 900, 1.2), target('bridge', 1500, 0.8)],
    stateless: target('stateless', 1400, 0.9),
    references: [
      { label: 'HAProxy', result: target('reference: HAProxy', 1000, 1.1) },
      { label: 'Node.js TCP relay', result: 'not measured: the relay did not start (x)' },
    ],
    sharedOpens: { singles: [0.5], bursts: [1] },
    isolated: null,
    rss: { start: 80_000, idle: 90_000, afterLoad: 91_000 },
    memory: 'failed: no memory phase in this test',
    expiry: { idleS: 2, opened: 5, sessionsAfterOpen: 5, sessionsAfterWait: 0, waitedMs: 3000, expiredStatus: 404, pass: true },
    wake: {
      rounds: 2,
      cold: [{ spawn: 2, handshake: 100, call: 10, total: 112 }, { spawn: 2, handshake: 100, call: 10, total: 112 }],
      wake: [{ spawn: 3, handshake: 100, call: 12, total: 115 }, { spawn: 3, handshake: 100, call: 12, total: 115 }],
      listMs: [1, 1],
      listSpawns: 0,
    },
    ...over,
  };
}

describe('bench report', () => {
  it('compares Berth with each measured reference and says why one is missing', () => {
    const { text } = buildReport(results());
    expect(text).toContain("## Berth's gateway vs HAProxy in front of the same server (same run)");
    expect(text).not.toContain("## Berth's gateway vs Node.js TCP relay");
    expect(text).toContain('## reference gateway Node.js TCP relay: not measured: the relay did not start (x)');
    const vsRef = text.split("## Berth's gateway vs HAProxy")[1]!.split('\n').find((l) => l.startsWith('gateway') && /\s64\s/.test(l));
    expect(vsRef).toMatch(/0\.90×\s+—\s+1\.09×/);
    const rows = text.split('## targets')[1]!;
    expect(rows).toMatch(/gateway throughput, C=64\s+≥ 1\.00× direct \(±3% noise\)\s+0\.90×\s+✗/);
    expect(rows).toMatch(/HAProxy throughput, C=64\s+for comparison\s+1\.00×\s+–/);
    expect(rows).toMatch(/HAProxy p50, C=1\s+for comparison\s+1\.10×\s+–/);
  });

  it('judges the gateway against direct, not against the reference', () => {
    const fast = results({ targets: [target('direct', 1000, 1), target('gateway', 990, 1.02), target('bridge', 1500, 0.8)] });
    const rows = buildReport(fast).text.split('## targets')[1]!;
    expect(rows).toMatch(/gateway throughput, C=64\s+\S.*0\.99×\s+✓/);
    expect(rows).toMatch(/gateway p50, C=1\s+≤ 1\.03× direct\s+1\.02×\s+✓/);
  });

  it('fails the harness on a reference that errs, and on a phase that could not run', () => {
    const bad = results({ references: [{ label: 'HAProxy', result: target('reference: HAProxy', 100, 1, 50) }] });
    const { problems } = buildReport(bad);
    expect(problems).toContain('reference: HAProxy: error rate 33.33% > 1% (first: boom)');
    expect(problems).toContain('memory phase failed: no memory phase in this test');
  });

  it('shows the spread of the per-round ratios when the slices were measured side by side', () => {
    // Two rounds: the gateway did 800 then 1,000 calls/s while direct did 1,000 both times.
    const merged = (a: number, b: number) => mergeCells(cell(64, a, 1), cell(64, b, 1));
    const direct: TargetResult = { name: 'direct', cells: [merged(1000, 1000)] };
    const gateway: TargetResult = { name: 'gateway', cells: [merged(800, 1000)] };
    const { text } = buildReport(results({ targets: [direct, gateway, target('bridge', 1500, 0.8)], references: [] }));
    const row = text.split('## ratios vs direct')[1]!.split('\n').find((l) => l.startsWith('gateway'));
    expect(row).toMatch(/0\.90×\s+0\.80–1\.00×/);
  });

  it('reports Berth\'s start-up and idle RSS against the bare server, and judges them by the goals', () => {
    const sample = (readyMs: number, readyCpuMs: number, mb: number) => ({ readyMs, readyCpuMs, idleRssKb: mb * 1024 });
    const startup = { runs: 3, berth: [sample(500, 150, 70), sample(700, 170, 71), sample(550, 160, 69)], baseline: [sample(100, 20, 42), sample(120, 25, 42), sample(110, 22, 42)] };
    const { text, problems } = buildReport(results({ startup }));
    const section = text.split('## memory/startup')[1]!;
    expect(section).toMatch(/Berth\s+550\s+160\s+70\.0 MB/);
    expect(section).toContain('Berth / baseline: ready 5.00×, CPU 7.27×, RSS 1.67× (+28.0 MB)');
    expect(text).toMatch(/Berth idle RSS \(SQLite, 0 deployments\)\s+≤ 80\.0 MB\s+70\.0 MB\s+✓/);
    expect(text).toMatch(/Berth start to \/healthz 200\s+≤ 600 ms\s+550 ms\s+✓/);
    expect(problems).toEqual(['memory phase failed: no memory phase in this test']);

    const heavy = { ...startup, berth: startup.berth.map((x) => ({ ...x, idleRssKb: 90 * 1024, readyMs: x.readyMs + 500 })) };
    const judged = buildReport(results({ startup: heavy })).text;
    expect(judged).toMatch(/Berth idle RSS \(SQLite, 0 deployments\)\s+≤ 80\.0 MB\s+90\.0 MB\s+✗/);
    expect(judged).toMatch(/Berth start to \/healthz 200\s+≤ 600 ms\s+1050 ms\s+✗/);
    expect(buildReport(results({ startup: 'failed: Berth exited' })).problems).toContain('memory/startup phase failed: Berth exited');
  });
});
