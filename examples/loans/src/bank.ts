/** A fake credit bureau and bank: what the loan machine's steps call. */

/** The bank's payout system is down: retried, then caught and routed to a manual payout. */
export class BankUnavailable extends Error {
  override name = 'BankUnavailable';
}

export const bureau = {
  /** A score from the applicant's history; more documented income raises it. */
  score(applicant: string, incomeCents: number): number {
    const base = [...applicant].reduce((sum, c) => sum + c.charCodeAt(0), 0) % 300;
    return 400 + base + Math.floor(incomeCents / 1_000_00);
  },
};

export const bank = {
  down: new Set<string>(),
  payouts: new Map<string, number>(),
  async pay(applicationId: string, amountCents: number): Promise<string> {
    if (this.down.has(applicationId)) throw new BankUnavailable('payout system unavailable');
    this.payouts.set(applicationId, amountCents);
    return `PAY-${applicationId}`;
  },
};
