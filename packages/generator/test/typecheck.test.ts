import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Project, ts } from 'ts-morph';
import { describe, expect, it } from 'vitest';
import { generate } from '../src/generate.js';
import { copyInto, fixture, tempDir } from './support.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

/** A consumer of the generated index: the types must be right, not just present. */
const USE = `import { createOrderRunner, createPaymentCaptureRunner, orderStates, type OrderData, type OrderState } from './generated/index.js';

export async function use(): Promise<OrderState> {
  const orders = createOrderRunner();
  const data: OrderData = { orderId: 'o-1', lines: [{ sku: 'mug', qty: 1 }], totalCents: 100, placedAt: new Date() };
  const created = await orders.create(data, { userId: 'u-1' });
  const first: OrderState = orderStates[0];
  // @ts-expect-error not a state of the order machine
  const wrong: OrderState = 'authorize';
  // @ts-expect-error the data type is enforced
  await orders.create({ orderId: 1 });
  await createPaymentCaptureRunner().resume('id', { attempts: 2 });
  return created.state === first ? first : wrong;
}
`;

/** A consumer of runners whose machines inherit their first steps and data type from a base class. */
const USE_INHERITED = `import { createExpressParcelRunner, createLetterRunner, type ExpressParcelState, type ParcelData } from './generated/index.js';

export async function use(): Promise<ExpressParcelState> {
  const data: ParcelData = { parcelId: 'p-1', log: [] };
  const created = await createExpressParcelRunner().create(data);
  // @ts-expect-error the data type comes from the generic base, bound by the subclass
  await createExpressParcelRunner().create({ parcelId: 1 });
  await createLetterRunner().create({ to: 'x', stamps: 0 });
  const inherited: ExpressParcelState = 'register';
  // @ts-expect-error replaced by the subclass's own step \`closed\`
  const replaced: ExpressParcelState = 'close';
  return created.state === inherited ? inherited : replaced;
}
`;

/** A consumer of a branching machine and of one driven by named transitions. */
const USE_GRAPH = `import { createTicketRunner, loanDataSchema, loanModel, type LoanScoreContext, type LoanState, type TicketState } from './generated/index.js';

export async function use(): Promise<TicketState> {
  const tickets = createTicketRunner();
  const created = await tickets.create({ title: 'printer on fire', comments: [] });
  const moved = await tickets.transition(created.id, 'assign', { assignee: 'ann' }, { actor: 'lead' });
  await tickets.transition(created.id, 'resolve', { resolution: 'fixed', comment: 'put out' });
  await tickets.transition(created.id, 'cancel', undefined);
  // @ts-expect-error no transition of that name
  await tickets.transition(created.id, 'reopen', {});
  // @ts-expect-error assign needs an assignee
  await tickets.transition(created.id, 'assign', { note: 'x' });
  // @ts-expect-error resolution is 'fixed' or 'wontfix'
  await tickets.transition(created.id, 'resolve', { resolution: 'done', comment: '' });
  const resting: TicketState = 'in_review';
  // @ts-expect-error '*' means any state in a from list, it is no state itself
  const star: TicketState = '*';
  return moved.state === resting ? resting : star;
}

export function score(ctx: LoanScoreContext): LoanState {
  if (ctx.data.cents > 10) return ctx.goto('review').goto;
  // @ts-expect-error collect is not among score's declared successors
  ctx.goto('collect');
  // @ts-expect-error not a state of the loan machine
  const wrong: LoanState = 'approved';
  return loanModel.steps[1].next[0] === 'approve' && loanDataSchema ? 'approve' : wrong;
}
`;

/** Type errors in every .ts file under `dir`, under the strict NodeNext settings of the repository; '' if none. */
function typeErrorsIn(dir: string): { files: string[]; errors: string } {
  const project = new Project({
    skipAddingFilesFromTsConfig: true,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2023.d.ts'],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noUncheckedIndexedAccess: true,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      experimentalDecorators: true,
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
      typeRoots: [join(repo, 'node_modules', '@types')],
      paths: { '@fsmkit/*': [join(repo, 'packages', '*', 'src', 'index.ts')] },
    },
  });
  const ours = project.addSourceFilesAtPaths(join(dir, '**', '*.ts'));
  project.resolveSourceFileDependencies();
  const program = project.getProgram();
  const diagnostics = ours.flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)]);
  return { files: ours.map((f) => f.getBaseName()), errors: project.formatDiagnosticsWithColorAndContext(diagnostics) };
}

describe('generated runners', () => {
  it('typecheck against @fsmkit/runtime under the strict NodeNext settings of the repository', async () => {
    const dir = tempDir();
    copyInto(dir, fixture('shop', 'src'));
    const result = await generate({ cwd: dir, include: ['src/**/*.machine.ts'], outDir: 'src/generated' });
    expect(result.ok).toBe(true);
    writeFileSync(join(dir, 'src', 'use.ts'), USE);

    const { files, errors } = typeErrorsIn(dir);
    expect(files).toContain('order.runner.ts');
    expect(errors).toBe('');
  }, 60_000);

  it('typecheck for machines that inherit steps and their data type from base classes', async () => {
    const dir = tempDir();
    copyInto(dir, fixture('inherit', 'src'));
    copyInto(dir, fixture('inherit', 'shared'));
    const result = await generate({ cwd: dir, include: ['src/**/*.machine.ts'], outDir: 'src/generated' });
    expect(result.diagnostics).toEqual([]);
    writeFileSync(join(dir, 'src', 'use.ts'), USE_INHERITED);

    const { files, errors } = typeErrorsIn(dir);
    expect(files).toEqual(expect.arrayContaining(['audited.ts', 'parcel.runner.ts', 'express_parcel.runner.ts', 'letter.runner.ts']));
    expect(errors).toBe('');
  }, 60_000);

  it('typecheck typed transitions, per-step goto targets and the state union derived from the model', async () => {
    const dir = tempDir();
    copyInto(dir, fixture('graph', 'src'));
    // A machine file may type a step with its generated context: goto is then checked against `next`.
    const loan = join(dir, 'src', 'loan.machine.ts');
    writeFileSync(
      loan,
      readFileSync(loan, 'utf8')
        .replace("import { BureauDownError", "import type { LoanReviewContext } from './generated/loan.runner.js';\nimport { BureauDownError")
        .replace('async review(ctx: StepContext<LoanData>) {', 'async review(ctx: LoanReviewContext) {\n    // @ts-expect-error collect is not among review\'s successors (computed: the generator leaves it to the types)\n    if (ctx.data.reviews > 9) ctx.goto(ctx.data.cents > 0 ? \'collect\' : \'score\');'),
    );
    const result = await generate({ cwd: dir, include: ['src/**/*.machine.ts'], outDir: 'src/generated' });
    expect(result.diagnostics).toEqual([]);
    expect(readFileSync(loan, 'utf8')).toContain('ctx: LoanReviewContext');
    writeFileSync(join(dir, 'src', 'use.ts'), USE_GRAPH);

    const { files, errors } = typeErrorsIn(dir);
    expect(files).toEqual(expect.arrayContaining(['loan.runner.ts', 'ticket.runner.ts', 'use.ts']));
    expect(errors).toBe('');
  }, 60_000);
});
