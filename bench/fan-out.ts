/**
 * fan-out: children per second through `ctx.map` on MySQL, against the engine's rate of the
 * same single-step instances started directly (the `mysql-steps` engine path), in the same run.
 *
 * - map (the headline): a parent whose one step maps ITEMS items to a child machine of one step
 *   (`ctx.map(..., { concurrency: 32 })`, joined, results read back); workers of the parent and
 *   of the child machine in this process run it (child worker concurrency 32). A round times
 *   the parent from `start` to `done`: ITEMS children stored, claimed, run, each ending with the
 *   start of its next queued sibling and the parent's wake, and the join reading their results.
 * - direct (the baseline): 32 loops of `runner.start(data)` of the same child machine on the
 *   same store (insert marked running, one step, final commit), ITEMS instances a round.
 *
 * Rounds alternate the sides (rotating who goes first); a side's figure is the median of its
 * rounds and the ratio the median of the per-round ratios. Last line: the JSON result (DESIGN.md
 * section 10). ratio = map / direct children per second; higher is better.
 */
import { createRunner } from '@fsmkit/runtime';
import { child, CONCURRENCY, fanOutStore, ITEMS, parent, POLL_MS } from './support/fan-out.js';
import { median } from './support/rounds.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const { store, dropTables } = await fanOutStore();
const kids = createRunner(child, { store });
const fans = createRunner(parent, { store, machines: [kids] });
const workers = [kids.work({ concurrency: CONCURRENCY, pollMs: POLL_MS }), fans.work({ concurrency: 1, pollMs: POLL_MS })];

const items = Array.from({ length: ITEMS }, (_, i) => i);

/** One map of ITEMS children; returns children per second. */
async function viaMap(): Promise<number> {
  const t0 = performance.now();
  const started = await fans.start({ items });
  for (;;) {
    const got = await fans.get(started.id);
    if (got.status === 'done') {
      if (got.data.results?.length !== ITEMS || got.data.results[ITEMS - 1] !== (ITEMS - 1) * 2) throw new Error('wrong results');
      break;
    }
    if (got.status !== 'waiting' && got.status !== 'running') throw new Error(`parent ended ${got.status}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return ITEMS / ((performance.now() - t0) / 1000);
}

/** ITEMS single-step instances, 32 at a time, each `start`ed; returns instances per second. */
async function direct(): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < ITEMS) {
        const n = next++;
        const done = await kids.start({ n });
        if (done.status !== 'done') throw new Error(`instance ended ${done.status}`);
      }
    }),
  );
  return ITEMS / ((performance.now() - t0) / 1000);
}

try {
  await viaMap(); // warm-up of both sides
  await direct();
  const map: number[] = [];
  const base: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which side goes first, so that drifts in machine load hit both alike.
    let a: number;
    let b: number;
    if (r % 2 === 0) {
      a = await viaMap();
      b = await direct();
    } else {
      b = await direct();
      a = await viaMap();
    }
    map.push(a);
    base.push(b);
    ratios.push(a / b);
  }
  console.log(`map      children/s per round: ${map.map((v) => v.toFixed(0)).join(', ')}`);
  console.log(`direct   instances/s per round: ${base.map((v) => v.toFixed(0)).join(', ')}`);
  console.log(`ratio per round: ${ratios.map((v) => v.toFixed(3)).join(', ')}`);
  console.log(
    JSON.stringify({
      bench: 'fan-out',
      metric: 'children_per_s',
      value: Math.round(median(map)),
      baseline: 'single-step instances started directly (mysql-steps engine path)',
      baselineValue: Math.round(median(base)),
      ratio: Number(median(ratios).toFixed(3)),
      unit: 'children per second',
    }),
  );
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  await dropTables();
  await store.close();
}
