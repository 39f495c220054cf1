import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machineModelOf, MODEL_VERSION, type AnyClass } from '@fsmkit/decorators';
import { describe, expect, it } from 'vitest';
import { extract } from '../src/extract.js';
import { buildModels } from '../src/model.js';
import { locate } from '../src/validate.js';
import { graphModelSuite } from './graph-suite.js';
import { at, fixture, SHOP_MACHINES, tempDir } from './support.js';

graphModelSuite();

describe('buildModels', () => {
  const entries = buildModels(extract({ files: SHOP_MACHINES }));
  const entry = (className: string) => entries.find((e) => e.model.className === className)!;

  it('gives, from source alone, the model the decorators build at run time', async () => {
    const classes: Record<string, AnyClass> = {
      AuditMachine: (await import('./fixtures/shop/src/audit.machine.js')).AuditMachine,
      OrderMachine: (await import('./fixtures/shop/src/order.machine.js')).OrderMachine,
      PaymentMachine: (await import('./fixtures/shop/src/payment.machine.js')).PaymentMachine,
      ReportMachine: (await import('./fixtures/shop/src/report.machine.js')).default,
    };
    expect(entries.map((e) => e.model.className)).toEqual(Object.keys(classes));
    for (const e of entries) expect(e.model).toEqual(machineModelOf(classes[e.model.className]!));
  });

  it('gives the model the decorators build for classes that inherit steps and @Lock', async () => {
    const files = ['express.machine.ts', 'letter.machine.ts', 'parcel.machine.ts'].map((f) => fixture('inherit', 'src', f));
    const inheriting = buildModels(extract({ files }));
    const classes: Record<string, AnyClass> = {
      ExpressParcelMachine: (await import('./fixtures/inherit/src/express.machine.js')).ExpressParcelMachine,
      LetterMachine: (await import('./fixtures/inherit/src/letter.machine.js')).LetterMachine,
      ParcelMachine: (await import('./fixtures/inherit/src/parcel.machine.js')).ParcelMachine,
    };
    expect(inheriting.map((e) => e.model.className)).toEqual(Object.keys(classes));
    for (const e of inheriting) {
      expect(e.model).toEqual(machineModelOf(classes[e.model.className]!));
      expect(e.problems).toEqual([]);
      expect(e.unresolvedBase).toBeUndefined();
    }
  });

  it('takes a transition input schema written in the decorator over the one derived from its Input type', () => {
    const file = join(tempDir(), 'flag.machine.ts');
    writeFileSync(
      file,
      [
        "import { Machine, Transition, type TransitionContext } from '@fsmkit/decorators';",
        "@Machine({ name: 'flag', initial: 'down' })",
        'export class FlagMachine {',
        "  @Transition('raise', { from: 'down', to: 'up', input: { type: 'object', required: ['by'], properties: { by: { type: 'string', minLength: 1 } } } })",
        '  raise(_ctx: TransitionContext<{ n: number }, { by: string }>) {}',
        "  @Transition('lower', { from: 'up', to: 'down', input: { type: EXTERNAL } })",
        '  lower(_ctx: TransitionContext<{ n: number }>) {}',
        '}',
      ].join('\n'),
    );
    const [flag] = buildModels(extract({ files: [file] }));
    expect(flag!.model.transitions![0]!.input).toEqual({ type: 'object', required: ['by'], properties: { by: { type: 'string', minLength: 1 } } });
    expect(flag!.problems).toEqual([
      expect.objectContaining({ code: 'FSM_E_OPTION_TYPE', path: 'transitions.1.input', loc: expect.objectContaining({ text: '{ type: EXTERNAL }' }) }),
    ]);
  });

  it("derives a message wait's payload schema from @Step's type argument, unless the decorator writes one", () => {
    const file = join(tempDir(), 'till.machine.ts');
    writeFileSync(
      file,
      [
        "import { Machine, Step, type StepContext } from '@fsmkit/decorators';",
        'interface Payment { amountCents: number; reference: string; note?: string }',
        'interface Sale { saleId: string }',
        "@Machine({ name: 'till' })",
        'export class TillMachine {',
        "  @Step<Payment>(1, { waitFor: { message: 'payment', key: 'saleId' } })",
        '  open(_ctx: StepContext<Sale>) {}',
        "  @Step<Payment>(2, { waitFor: { message: 'refund', key: 'saleId', payload: { type: 'object' } } })",
        '  settle(_ctx: StepContext<Sale>) {}',
        '  @Step(3)',
        '  close(_ctx: StepContext<Sale>) {}',
        '}',
      ].join('\n'),
    );
    const [till] = buildModels(extract({ files: [file] }));
    expect(till!.problems).toEqual([]);
    const [open, settle] = till!.model.steps;
    expect(open!.wait).toMatchObject({ kind: 'message', message: 'payment', key: 'saleId' });
    expect((open!.wait as { payload?: unknown }).payload).toMatchObject({
      type: 'object',
      properties: { amountCents: { type: 'number' }, reference: { type: 'string' }, note: { type: 'string' } },
      required: ['amountCents', 'reference'],
    });
    expect((settle!.wait as { payload?: unknown }).payload).toEqual({ type: 'object' });
  });

  it('reads sleep and waitFor from source as the decorators record them, and reports a waitFor that is not a literal', () => {
    const file = join(tempDir(), 'pay.machine.ts');
    writeFileSync(
      file,
      [
        "import { Machine, Step } from '@fsmkit/decorators';",
        "@Machine({ name: 'pay' })",
        'export class PayMachine {',
        "  @Step(1, { waitFor: { message: 'payment', key: 'orderId', timeoutMs: 1000, onTimeout: 'cancel', payload: { type: 'object', required: ['amount'] } } })",
        '  reserve() {}',
        '  @Step(2, { sleep: 500 })',
        '  charge() {}',
        '  @Step(3, { waitFor: SOMEWHERE })',
        '  cancel() {}',
        '}',
      ].join('\n'),
    );
    const [pay] = buildModels(extract({ files: [file] }));
    expect(pay!.model.steps.map((s) => s.wait)).toEqual([
      { kind: 'message', message: 'payment', key: 'orderId', timeoutMs: 1000, onTimeout: 'cancel', payload: { type: 'object', required: ['amount'] } },
      { kind: 'timer', ms: 500 },
      undefined,
    ]);
    expect(pay!.problems).toEqual([expect.objectContaining({ code: 'FSM_E_OPTION_TYPE', loc: expect.objectContaining({ text: 'SOMEWHERE' }) })]);
  });

  it('reads a declared join from source, and reports one that is neither true nor an object literal', () => {
    const file = join(tempDir(), 'fan.machine.ts');
    writeFileSync(
      file,
      [
        "import { Machine, Step } from '@fsmkit/decorators';",
        "@Machine({ name: 'fan' })",
        'export class FanMachine {',
        "  @Step(1, { join: { into: 'results', field: 'total', onChildError: 'collect' } })",
        '  split() {}',
        '  @Step(2, { join: true })',
        '  again() {}',
        "  @Step(3, { join: 'yes' })",
        '  last() {}',
        '}',
      ].join('\n'),
    );
    const [fan] = buildModels(extract({ files: [file] }));
    expect(fan!.model.steps.map((s) => s.join)).toEqual([{ into: 'results', field: 'total', onChildError: 'collect' }, {}, undefined]);
    expect(fan!.problems).toEqual([expect.objectContaining({ code: 'FSM_E_OPTION_TYPE', loc: expect.objectContaining({ text: "'yes'" }) })]);
  });

  it('fills defaults, normalises names and sorts steps by order', () => {
    expect(entry('PaymentMachine').model).toEqual({
      modelVersion: MODEL_VERSION,
      name: 'payment_capture',
      className: 'PaymentMachine',
      topic: 'shop.payments',
      saveAfterStep: false,
      immediate: true,
      version: 2,
      onError: 'compensate',
      lock: { scope: 'global' },
      steps: [
        { order: 10, name: 'authorize', method: 'auth', back: 'voidAuthorization' },
        { order: 20, name: 'capture', method: 'capture' },
      ],
    });
    expect(entry('AuditMachine').model).toMatchObject({ name: 'audit_log', lock: { scope: 'none' }, saveAfterStep: true });
  });

  it('maps model paths to where they are written', () => {
    const file = fixture('shop', 'src', 'order.machine.ts');
    const order = entry('OrderMachine');
    expect(locate(order, 'name')).toMatchObject({ file, ...at(file, "'order'") });
    expect(locate(order, 'steps.1.order')).toMatchObject({ ...at(file, '2, { back'), text: '2' });
    expect(locate(order, 'steps.1.back')).toMatchObject({ ...at(file, "'refund'"), text: "'refund'" });
    expect(locate(order, 'steps.1.retry')).toMatchObject(at(file, '{ maxAttempts'));
    expect(locate(order, 'steps.2.name')).toMatchObject({ ...at(file, 'ship('), text: 'ship' });
    expect(locate(order, 'lock.by')).toMatchObject({ ...at(file, "'user'"), text: "'user'" });
    // A path with no place of its own falls back to the nearest enclosing one.
    expect(locate(order, 'steps.0.retry')).toMatchObject({ ...at(file, "@Step(1, { back: 'releaseStock' })") });
    expect(locate(order, 'saveAfterStep')).toMatchObject({ ...at(file, 'OrderMachine {') });
  });

  it('keeps what the model cannot hold: source, export, methods, data type', () => {
    const order = entry('OrderMachine');
    expect(order.source).toBe(fixture('shop', 'src', 'order.machine.ts'));
    expect(order.exportName).toBe('OrderMachine');
    expect(order.methods).toContain('refund');
    expect(order.data.ref).toMatchObject({ kind: 'import', importedName: 'OrderData' });
    expect(order.problems).toEqual([]);
  });
});
