import { machineModelOf, type AnyClass, type MachineModel } from '@fsmkit/decorators';
import { describe, expect, it } from 'vitest';
import { extract } from '../src/extract.js';
import { buildModels } from '../src/model.js';
import { fixture } from './support.js';

export const GRAPH_MACHINES = ['loan.machine.ts', 'ticket.machine.ts'].map((f) => fixture('graph', 'src', f));

/** The model without the input schemas, which only the generator derives (from source types). */
function withoutInputs(model: MachineModel): MachineModel {
  if (!model.transitions) return model;
  return { ...model, transitions: model.transitions.map(({ input: _input, ...t }) => t) };
}

/**
 * Graph options (next, end, catch, retry.on with classes, initial, @Transition) read from
 * source give the model the decorators record at run time; each decorator mode runs it.
 */
export function graphModelSuite(): void {
  describe('graph options from source', () => {
    it('give the model the decorators build for the same classes', async () => {
      const entries = buildModels(extract({ files: GRAPH_MACHINES }));
      const classes: Record<string, AnyClass> = {
        LoanMachine: (await import('./fixtures/graph/src/loan.machine.js')).LoanMachine,
        TicketMachine: (await import('./fixtures/graph/src/ticket.machine.js')).TicketMachine,
      };
      expect(entries.map((e) => e.model.className)).toEqual(Object.keys(classes));
      for (const e of entries) {
        expect(e.problems).toEqual([]);
        expect(withoutInputs(e.model)).toEqual(machineModelOf(classes[e.model.className]!));
      }
      const loan = entries[0]!.model;
      // The classes are recorded by the names they are declared with, also under an import alias.
      expect(loan.steps[1]!.retry!.on).toEqual(['FSM_STEP_TIMEOUT', 'BureauDownError']);
      expect(loan.steps[1]!.catch).toEqual([
        { on: ['FraudSuspectedError', 'FraudError'], goto: 'reject' },
        { on: ['*'], goto: 'review' },
      ]);
      expect(entries[1]!.model.transitions!.map((t) => [t.name, t.from, t.to, t.guard])).toEqual([
        ['assign', ['open', 'in_review'], 'in_review', undefined],
        ['resolve', ['in_review'], 'resolved', 'canResolve'],
        ['cancel', ['*'], 'cancelled', undefined],
      ]);
    });

    it('derive each transition input schema from the Input type of its TransitionContext', () => {
      const [, ticket] = buildModels(extract({ files: GRAPH_MACHINES }));
      const [assign, resolve, cancel] = ticket!.model.transitions!;
      expect(assign!.input).toEqual({
        type: 'object',
        properties: { assignee: { type: 'string' }, note: { type: 'string' } },
        required: ['assignee'],
      });
      expect(resolve!.input).toEqual({
        type: 'object',
        properties: { resolution: { enum: ['fixed', 'wontfix'] }, comment: { type: 'string' } },
        required: ['resolution', 'comment'],
      });
      expect(cancel!.input).toBeUndefined();
    });
  });
}
