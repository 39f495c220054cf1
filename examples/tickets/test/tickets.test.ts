import { describe, expect, it } from 'vitest';
import { supportDesk } from '../src/main.js';

describe('the support desk example', () => {
  it('moves a ticket through named transitions with typed input, a guard and actors', async () => {
    const lines: string[] = [];
    const { resolved, again, history, events } = await supportDesk((l) => lines.push(l));
    expect([resolved.status, resolved.state, resolved.data.notified]).toEqual(['idle', 'resolved', ['ada@example.com: credit note sent']]);
    expect([again.state, again.data.resolution]).toEqual(['resolved', 'corrected invoice']);
    expect(lines).toContain('refused: only the assignee (sam) may resolve this ticket');
    expect(history.map((h) => [h.transition, h.actor, h.stateBefore, h.stateAfter])).toEqual([
      ['assign', 'lead', 'open', 'in_review'],
      ['resolve', 'sam', 'in_review', 'notifyCustomer'],
      [null, null, 'notifyCustomer', 'resolved'],
      ['reopen', 'ada', 'resolved', 'in_review'],
      ['resolve', 'sam', 'in_review', 'notifyCustomer'],
      [null, null, 'notifyCustomer', 'resolved'],
    ]);
    expect(JSON.parse(history[0]!.result!)).toEqual({ previous: null });
    const transitions = events.filter((e) => e.type === 'transition.completed');
    expect(transitions.map((e) => [e.transition, e.actor])).toEqual([
      ['assign', 'lead'],
      ['resolve', 'sam'],
      ['reopen', 'ada'],
      ['resolve', 'sam'],
    ]);
  });
});
