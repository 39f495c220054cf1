/**
 * The generator benchmarks' project: N machine classes of STEPS steps each, one file per
 * machine, with a data type of its own (interfaces, a union, Date and Set) and a config.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const STEPS = 5;

export function machineFileName(i) {
  return `order${String(i).padStart(4, '0')}.machine.ts`;
}

/** Writes `src/*.machine.ts` and `fsm.config.ts` into `dir`; `generated/` is the output folder. */
export function makeProject(dir, machines) {
  const src = join(dir, 'src');
  mkdirSync(src, { recursive: true });
  for (let i = 0; i < machines; i++) writeFileSync(join(src, machineFileName(i)), machineSource(i));
  writeFileSync(join(dir, 'fsm.config.ts'), `export default { include: ['src/**/*.machine.ts'], outDir: 'generated' };\n`);
  return { src, outDir: join(dir, 'generated') };
}

/** Machine i's source; `variant` raises step 3's retry attempts: a change to the model, so its runner and model.json change. */
export function machineSource(i, variant = 0) {
  const id = String(i).padStart(4, '0');
  const data = `Order${id}Data`;
  const steps = Array.from({ length: STEPS }, (_, k) => {
    const n = k + 1;
    const options = [];
    if (n < STEPS) options.push(`back: 'undo${n}'`);
    if (n === 3) options.push(`retry: { maxAttempts: ${3 + variant}, backoffMs: 100, factor: 2 }`);
    if (n === 4) options.push('immediate: false');
    return `  @Step(${n}${options.length ? `, { ${options.join(', ')} }` : ''})
  async step${n}(ctx: StepContext<${data}>): Promise<void> {
    ctx.data.amountCents += ${n};
    ctx.annotate({ step: ${n} });
  }
`;
  });
  const undos = Array.from({ length: STEPS - 1 }, (_, k) => `  async undo${k + 1}(ctx: StepContext<${data}>): Promise<void> {
    ctx.data.amountCents -= ${k + 1};
  }
`);
  return `import { Lock, Machine, Step, type StepContext } from '@fsmkit/decorators';

export interface Order${id}Line {
  sku: string;
  qty: number;
}

export interface ${data} {
  orderId: string;
  amountCents: number;
  lines: Order${id}Line[];
  status?: 'new' | 'paid' | 'shipped';
  placedAt: Date;
  tags: Set<string>;
}

/** Machine ${i} of the generate benchmark. */
@Machine({ name: 'order_${id}', topic: 'bench.orders.fsm' })
@Lock('local', { by: 'user' })
export class Order${id}Machine {
${steps.join('\n')}
${undos.join('\n')}}
`;
}
