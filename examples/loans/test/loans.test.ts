import { describe, expect, it } from 'vitest';
import { bank } from '../src/bank.js';
import { loanDesk } from '../src/main.js';

describe('the loan desk example', () => {
  it('branches on the score, loops back for documents, and catches a bank outage', async () => {
    const lines: string[] = [];
    const { quick, paid, declined, path } = await loanDesk((l) => lines.push(l));
    expect([quick.status, quick.data.decision, quick.data.payoutId]).toEqual(['done', 'approved', 'PAY-L-1']);
    expect([paid.status, paid.data.decision, paid.data.officer, paid.data.rounds]).toEqual(['done', 'approved', 'officer:kay', 2]);
    expect(paid.data.manualPayout).toBe('payout system unavailable');
    expect(bank.payouts.has('L-2')).toBe(false);
    expect([declined.status, declined.data.decision]).toEqual(['done', 'rejected']);
    // Scored twice (the loop), three payout attempts (retried on BankUnavailable), then caught.
    expect(path).toEqual(['score', 'requestDocuments', 'collectDocuments', 'score', 'approve', 'payout', 'payout', 'payout', 'payManually']);
    expect(lines[1]).toBe('L-2: idle at manualReview (score 655)');
  });
});
