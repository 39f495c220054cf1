import { createRunner, defineMachine, type StepContext } from '@fsmkit/runtime';
import type { MysqlStore } from '../../src/index.js';

/** What a children worker process runs, passed to it as JSON. */
export interface ChildrenConfig {
  url: string;
  prefix: string;
  parent: string;
  child: string;
  /** Instance and claim leases: short, so that a worker takes over a killed one soon. */
  leaseMs: number;
  /** After spawning, print `entered` and hang in the step until killed. */
  hang: boolean;
}

export interface ParentData {
  items: number[];
  results?: number[];
}

/**
 * A parent whose one step maps its items to children (two at a time) and joins their
 * doubled numbers; with `hang`, the step never returns, so its process can be killed after
 * the handler spawned and before anything was committed.
 */
export function childrenRunners(config: ChildrenConfig, store: MysqlStore) {
  const child = defineMachine<{ n: number; doubled?: number }>({
    name: config.child,
    steps: { double: { order: 1 } },
    methods: { double: (ctx: StepContext<{ n: number; doubled?: number }>) => void (ctx.data.doubled = ctx.data.n * 2) },
  });
  const parent = defineMachine<ParentData>({
    name: config.parent,
    steps: { fan: { order: 1 } },
    methods: {
      async fan(ctx: StepContext<ParentData>) {
        const ids = ctx.map(config.child, ctx.data.items.map((n) => ({ n })), { concurrency: 2 });
        ctx.join({ into: 'results', field: 'doubled' });
        if (config.hang) {
          console.log(JSON.stringify({ event: 'entered', id: ctx.instanceId, children: ids, pid: process.pid }));
          await new Promise(() => undefined);
        }
      },
    },
  });
  const options = { store, instanceLeaseMs: config.leaseMs, lockLeaseMs: config.leaseMs };
  const children = createRunner(child, options);
  return { parent: createRunner(parent, { ...options, machines: [children] }), children };
}
