/**
 * engine-branching: a 10-state machine in which every state chooses its successor from the
 * data (one of two, on a bit of the instance's route), running 10 steps per instance with
 * history and saveAfterStep on, on the in-memory store; against XState v5 running the
 * equivalent machine with guarded transitions, a context update per step and its snapshot
 * persisted after each, in the same process and run. Each side is measured by CPU time per
 * step (the ratio) and by wall-clock rate, over alternating rounds.
 * Last line: the JSON result (DESIGN.md section 10). ratio = XState's CPU per step / ours.
 */
import { assign, createActor, createMachine } from 'xstate';
import { buildModel, createRunner, MemoryStore, type MachineDefinition, type StepContext } from '@fsmkit/runtime';
import { alternate, report } from './support/rounds.js';

const STATES = 10;
const STEPS = 10;
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);

interface Route {
  /** Bit i chooses the successor of the i-th step taken. */
  route: number;
  taken: number;
  note: string;
}

const names = Array.from({ length: STATES }, (_, i) => `s${i}`);
/** Successors of state i: the next one, or the one three ahead (wrapping): branches and loops. */
const near = (i: number) => names[(i + 1) % STATES]!;
const far = (i: number) => names[(i + 3) % STATES]!;
const choose = (data: Route) => ((data.route >> data.taken) & 1) === 1;

const definition: MachineDefinition<Route> = {
  model: buildModel({
    className: 'Branching',
    options: { name: 'branching' },
    steps: names.map((method, i) => ({ order: i + 1, method, options: { next: [near(i), far(i)] } })),
  }),
  create: () =>
    Object.fromEntries(
      names.map((n, i) => [
        n,
        (ctx: StepContext<Route>) => {
          const far_ = choose(ctx.data);
          ctx.data.taken++;
          if (ctx.data.taken >= STEPS) return ctx.succeed();
          return ctx.goto(far_ ? far(i) : near(i));
        },
      ]),
    ),
};

const routeOf = (i: number): Route => ({ route: (i * 2654435761) >>> 0, taken: 0, note: 'bench' });

async function ours(): Promise<number> {
  const runner = createRunner(definition, { store: new MemoryStore(), history: true, saveAfterStep: true });
  for (let i = 0; i < INSTANCES; i++) {
    const done = await runner.start(routeOf(i));
    if (done.status !== 'done' || done.data.taken !== STEPS) throw new Error(`instance ended ${done.status} after ${done.data.taken} steps`);
  }
  return INSTANCES * STEPS;
}

// The same graph in XState: guarded NEXT transitions, the step counter in context, final after STEPS.
const xmachine = createMachine({
  id: 'branching',
  types: {} as { context: Route },
  initial: 's0',
  context: () => routeOf(0),
  states: {
    ...Object.fromEntries(
      names.map((n, i) => [
        n,
        {
          on: {
            NEXT: [
              { guard: ({ context }: { context: Route }) => context.taken + 1 >= STEPS, target: 'done', actions: assign({ taken: ({ context }: { context: Route }) => context.taken + 1 }) },
              { guard: ({ context }: { context: Route }) => choose(context), target: far(i), actions: assign({ taken: ({ context }: { context: Route }) => context.taken + 1 }) },
              { target: near(i), actions: assign({ taken: ({ context }: { context: Route }) => context.taken + 1 }) },
            ],
          },
        },
      ]),
    ),
    done: { type: 'final' },
  },
});

async function xstate(): Promise<number> {
  const persisted = new Map<number, string>();
  for (let i = 0; i < INSTANCES; i++) {
    const actor = createActor(xmachine, { snapshot: xmachine.resolveState({ value: 's0', context: routeOf(i) }) });
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
report('engine-branching', 'xstate@5 actor, guarded transitions, snapshot persisted after every transition', fsmkit, x);
