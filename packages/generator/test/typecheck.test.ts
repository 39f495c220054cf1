import { writeFileSync } from 'node:fs';
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

describe('generated runners', () => {
  it('typecheck against @fsmkit/runtime under the strict NodeNext settings of the repository', async () => {
    const dir = tempDir();
    copyInto(dir, fixture('shop', 'src'));
    const result = await generate({ cwd: dir, include: ['src/**/*.machine.ts'], outDir: 'src/generated' });
    expect(result.ok).toBe(true);
    writeFileSync(join(dir, 'src', 'use.ts'), USE);

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
    const ours = project.addSourceFilesAtPaths(join(dir, 'src', '**', '*.ts'));
    expect(ours.map((f) => f.getBaseName())).toContain('order.runner.ts');
    project.resolveSourceFileDependencies();
    const program = project.getProgram();
    const diagnostics = ours.flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)]);
    expect(project.formatDiagnosticsWithColorAndContext(diagnostics)).toBe('');
  }, 60_000);
});
