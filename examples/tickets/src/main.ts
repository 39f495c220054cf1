/**
 * The support desk in miniature, on the in-memory store: a ticket is assigned, a colleague
 * who is not its assignee is refused, the assignee resolves it, the customer reopens it and
 * it is resolved again. Every transition records who executed it.
 */
import { isFsmError, MemorySink, MemoryStore } from '@fsmkit/runtime';
import { createTicketRunner } from './generated/ticket.runner.js';

export async function supportDesk(print: (line: string) => void = console.log) {
  const sink = new MemorySink();
  const store = new MemoryStore({ sink });
  const tickets = createTicketRunner({ store });

  const opened = await tickets.start({ subject: 'Invoice shows the wrong VAT', customer: 'ada@example.com', log: [] }, { userId: 'ada' });
  print(`ticket: ${opened.status} at ${opened.state}`);

  const assigned = await tickets.transition(opened.id, 'assign', { assignee: 'sam' }, { actor: 'lead' });
  print(`ticket: ${assigned.state}, assignee ${assigned.data.assignee}`);

  try {
    await tickets.transition(opened.id, 'resolve', { resolution: 'fixed' }, { actor: 'kim' });
  } catch (error) {
    if (!isFsmError(error, 'FSM_GUARD_REJECTED')) throw error;
    print(`refused: ${error.context['reason']}`);
  }

  const resolved = await tickets.transition(opened.id, 'resolve', { resolution: 'credit note sent' }, { actor: 'sam' });
  print(`ticket: ${resolved.status} at ${resolved.state}; told ${resolved.data.notified?.join(', ')}`);

  const reopened = await tickets.transition(opened.id, 'reopen', { reason: 'still wrong' }, { actor: 'ada' });
  const again = await tickets.transition(reopened.id, 'resolve', { resolution: 'corrected invoice' }, { actor: 'sam' });
  print(`ticket: ${again.state} again`);

  const history = await tickets.history(opened.id);
  for (const h of history) {
    const who = h.transition === null ? 'step' : `${h.transition} by ${h.actor}`;
    print(`  #${h.seq} ${who.padEnd(16)} ${h.stateBefore} -> ${h.stateAfter}`);
  }
  await store.flush();
  return { resolved, again, history, events: sink.events };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await supportDesk();
}
