/**
 * Three applications on the in-memory store: one is approved at once, one goes to an officer
 * who asks for documents (the application loops back to scoring and to the officer) and then
 * approves it while the bank is down (the payout error is caught and routed to a manual
 * payout), one is rejected by its score.
 */
import { MemoryStore } from '@fsmkit/runtime';
import { bank } from './bank.js';
import { createLoanRunner, type LoanData } from './generated/loan.runner.js';

export async function loanDesk(print: (line: string) => void = console.log) {
  const loans = createLoanRunner({ store: new MemoryStore() });
  const apply = (applicationId: string, applicant: string, incomeCents: number): LoanData => ({
    applicationId,
    applicant,
    amountCents: 5_000_00,
    incomeCents,
    rounds: 0,
  });

  const quick = await loans.start(apply('L-1', 'grace', 40_000_000));
  print(`L-1: ${quick.status}, ${quick.data.decision}, payout ${quick.data.payoutId}`);

  const review = await loans.start(apply('L-2', 'linus', 0));
  print(`L-2: ${review.status} at ${review.state} (score ${review.data.score})`);
  const rescored = await loans.transition(review.id, 'requestDocuments', { incomeCents: 2_000_000 }, { actor: 'officer:kay' });
  print(`L-2: documents in, rescored ${rescored.data.score}, now at ${rescored.state}`);
  bank.down.add('L-2');
  const paid = await loans.transition(review.id, 'approve', { note: 'stable income' }, { actor: 'officer:kay' });
  print(`L-2: ${paid.status} at ${paid.state}; manual payout because: ${paid.data.manualPayout}`);

  const declined = await loans.start(apply('L-3', 'eve', 0));
  print(`L-3: ${declined.status}, ${declined.data.decision} (score ${declined.data.score})`);

  const path = (await loans.history(review.id)).map((h) => h.transition ?? h.step);
  print(`L-2 path: ${path.join(' -> ')}`);
  return { quick, paid, declined, path };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await loanDesk();
}
