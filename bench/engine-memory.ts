/**
 * engine-memory: steps per second of a 10-step machine with no-op handlers, history on and
 * saveAfterStep on, on the in-memory store; against XState v5 running an equivalent 10-state
 * machine that persists its snapshot after every transition, in the same process and run.
 * Last line: the JSON result (DESIGN.md section 10). ratio = ours / XState, higher is better.
 */
import { createActor, createMachine } from 'xstate';
import { buildModel, createRunner, MemoryStore, type MachineDefinition } from '@fsmkit/runtime';

const STEPS = 10;
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const initialData = () => ({ orderId: 'o-1', amount: 42, items: ['a', 'b'], note: 'bench' });

const names = Array.from({ length: STEPS }, (_, i) => `s${i + 1}`);
const methods = Object.fromEntries(names.map((n) => [n, () => {}]));
const definition: MachineDefinition<ReturnType<typeof initialData>> = {
  model: buildModel({
    className: 'Bench',
    options: { name: 'bench' },
    steps: names.map((method, i) => ({ order: i + 1, method })),
  }),
  create: () => methods,
};

async function ours(): Promise<number> {
  const runner = createRunner(definition, { store: new MemoryStore(), history: true, saveAfterStep: true });
  const t0 = performance.now();
  for (let i = 0; i < INSTANCES; i++) {
    const done = await runner.start(initialData());
    if (done.status !== 'done') throw new Error(`instance ended ${done.status}`);
  }
  return (INSTANCES * STEPS) / ((performance.now() - t0) / 1000);
}

// Ten states in a row, each moving on with NEXT, then a final state.
const xmachine = createMachine({
  id: 'bench',
  initial: 's1',
  context: initialData,
  states: {
    ...Object.fromEntries(names.map((n, i) => [n, { on: { NEXT: names[i + 1] ?? 'done' } }])),
    done: { type: 'final' },
  },
});

async function xstate(): Promise<number> {
  const persisted = new Map<number, string>();
  const t0 = performance.now();
  for (let i = 0; i < INSTANCES; i++) {
    const actor = createActor(xmachine);
    actor.start();
    persisted.set(i, JSON.stringify(actor.getPersistedSnapshot()));
    for (let s = 0; s < STEPS; s++) {
      actor.send({ type: 'NEXT' });
      persisted.set(i, JSON.stringify(actor.getPersistedSnapshot()));
    }
    if (actor.getSnapshot().status !== 'done') throw new Error('xstate actor did not finish');
    actor.stop();
  }
  return (INSTANCES * STEPS) / ((performance.now() - t0) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const oursRuns: number[] = [];
const xRuns: number[] = [];
await ours();
await xstate(); // warm-up both
for (let r = 0; r < ROUNDS; r++) {
  // Alternate so that machine noise hits both sides alike.
  oursRuns.push(await ours());
  xRuns.push(await xstate());
}
const value = median(oursRuns);
const baselineValue = median(xRuns);
console.log(`fsmkit steps/s per round: ${oursRuns.map((v) => v.toFixed(0)).join(', ')}`);
console.log(`xstate steps/s per round: ${xRuns.map((v) => v.toFixed(0)).join(', ')}`);
console.log(
  JSON.stringify({
    bench: 'engine-memory',
    metric: 'steps_per_s',
    value: Math.round(value),
    baseline: 'xstate@5 actor, snapshot persisted after every transition',
    baselineValue: Math.round(baselineValue),
    ratio: Number((value / baselineValue).toFixed(3)),
    unit: 'steps/s',
  }),
);
