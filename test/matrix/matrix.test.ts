import { afterAll, beforeAll, describe, it } from 'vitest';
import { useBerth } from '../support/use-berth.js';
import { connect, type MatrixClient } from './clients.js';
import { DRIVERS, assertNaCheck, assertRefused, type Cell } from './drivers.js';
import { gapOf } from './known-gaps.js';
import { RAW } from './raw.js';
import { record, renderSummary } from './summary.js';
import { CLIENTS, FEATURES, RAW_CASES, UPSTREAMS, outcomeOf, type ClientId, type Column, type Feature, type RawCase, type UpstreamDef } from './tables.js';
import { deployRow, type Row } from './upstreams.js';

/**
 * The protocol matrix (issue 3): clients × upstreams × features through a real Berth, every cell
 * generated from tables.ts. A cell asserts its expected outcome (pass, the documented refusal, or the
 * documented reason it does not apply); known gaps (known-gaps.ts) must still fail.
 */

const ctx = useBerth();
const rows = new Map<string, Row>();
let tagSeq = 0;
const newTag = () => `t${++tagSeq}${Date.now().toString(36).slice(-4)}`;

beforeAll(async () => {
  const made = await Promise.all(UPSTREAMS.map((def) => deployRow(ctx.api, def)));
  for (const r of made) rows.set(r.def.id, r);
}, 90_000);

afterAll(async () => {
  await Promise.all([...rows.values()].map((r) => r.stop()));
  process.stdout.write(`\n${renderSummary()}\n`);
}, 30_000);

/** Runs one cell against its expected outcome and records how it ended. */
async function runCell(up: UpstreamDef, column: Column, feature: Feature | RawCase, body: () => Promise<void>): Promise<void> {
  const gap = gapOf(up.id, column, feature);
  const outcome = outcomeOf(up.id, column, feature);
  const row = rows.get(up.id)!;
  let failure: Error | undefined;
  try {
    if (row.setupError) throw new Error(`the ${up.id} deployment is not running: ${row.setupError.message.split('\n')[0]}`);
    await body();
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err));
  }
  const firstLine = (e: Error) => e.message.split('\n')[0]!.slice(0, 300);
  // A known gap either passes (FIXED) or fails the way it is known to; any other failure is a plain FAIL.
  if (gap && (!failure || gap.fails.test(failure.message))) {
    if (!failure) {
      record(up.id, column, feature, 'FIXED', gap.reason);
      throw new Error(`known gap now passes; remove it from test/matrix/known-gaps.ts: ${gap.reason}`);
    }
    record(up.id, column, feature, gap.kind === 'bug' ? 'bug' : 'gap', `${gap.reason} [observed: ${firstLine(failure)}]`);
    return;
  }
  if (failure) {
    record(up.id, column, feature, 'FAIL', firstLine(failure));
    throw failure;
  }
  record(up.id, column, feature, outcome.kind === 'pass' ? 'ok' : outcome.kind === 'refused' ? 'ref' : 'n/a', outcome.kind === 'pass' ? undefined : outcome.reason);
}

// Rows (upstreams) run side by side, each on its own deployment; the cells of one row run one after
// another, since they share its clients and its server's state. Vitest runs five suites at a time:
// the url rows (the slowest, for their known gaps' timeouts) start first.
const byCost = [...UPSTREAMS].sort((a, b) => Number(b.deploy.kind === 'url') - Number(a.deploy.kind === 'url'));
for (const up of byCost) {
  describe.concurrent(`${up.id}: ${up.what}`, () => {
    /** One subject and one second client per client kind, made on first use (a failed connect is retried). */
    const pool = new Map<string, Promise<MatrixClient>>();
    const client = (id: ClientId, which: 'subject' | 'other'): Promise<MatrixClient> => {
      const k = `${id}/${which}`;
      let p = pool.get(k);
      if (!p) {
        p = connect(id, rows.get(up.id)!.endpoint);
        pool.set(k, p);
        p.catch(() => pool.delete(k));
      }
      return p;
    };
    afterAll(async () => {
      await Promise.all([...pool.values()].map((p) => p.then((c) => c.close()).catch(() => {})));
    });

    for (const cl of CLIENTS) {
      for (const feature of FEATURES) {
        const outcome = outcomeOf(up.id, cl.id, feature);
        if (outcome.kind === 'na' && !outcome.check) {
          record(up.id, cl.id, feature, 'n/a', outcome.reason);
          continue;
        }
        it.sequential(`${cl.id} · ${feature}${outcome.kind === 'pass' ? '' : ` (${outcome.kind})`}`, async () => {
          await runCell(up, cl.id, feature, async () => {
            const cell: Cell = { client: await client(cl.id, 'subject'), other: () => client(cl.id, 'other'), row: rows.get(up.id)!, tag: newTag() };
            if (outcome.kind === 'refused') await assertRefused(cell, feature, up.server);
            else if (outcome.kind === 'na') await assertNaCheck(cell, outcome.check!, feature);
            else await DRIVERS[up.server][feature](cell);
          });
        }, 30_000);
      }
    }

    for (const rc of RAW_CASES) {
      const outcome = outcomeOf(up.id, 'raw', rc);
      if (outcome.kind === 'na') {
        record(up.id, 'raw', rc, 'n/a', outcome.reason);
        continue;
      }
      it.sequential(`raw http · ${rc}`, async () => {
        await runCell(up, 'raw', rc, () => RAW[rc](rows.get(up.id)!, newTag()));
      }, 30_000);
    }
  });
}
