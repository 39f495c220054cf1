/**
 * engine-memory: a 10-step machine with no-op handlers, history on and saveAfterStep on, on
 * the in-memory store; against XState v5 running an equivalent 10-state machine that persists
 * its snapshot after every transition, in the same process and run. Each side is measured by
 * CPU time per step (the ratio) and by wall-clock rate, over alternating rounds.
 * Last line: the JSON result (DESIGN.md section 10). ratio = XState's CPU per step / ours.
 */
import { createActor, createMachine } from 'xstate';
import { buildModel, createRunner, MemoryStore, type MachineDefinition } from '@fsmkit/runtime';
import { alternate, report } from './support/rounds.js';

const STEPS = 10;
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
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
  for (let i = 0; i < INSTANCES; i++) {
    const done = await runner.start(initialData());
    if (done.status !== 'done') throw new Error(`instance ended ${done.status}`);
  }
  return INSTANCES * STEPS;
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
  return INSTANCES * STEPS;
}

const [fsmkit, x] = await alternate(
  [
    { name: 'fsmkit', run: ours },
    { name: 'xstate', run: xstate },
  ],
  ROUNDS,
);
report('engine-memory', 'xstate@5 actor, snapshot persisted after every transition', fsmkit, x);
