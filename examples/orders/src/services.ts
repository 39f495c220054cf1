/**
 * Stand-ins for the services an order flow calls: an inventory, a payment provider and a
 * carrier. They keep state in memory so the example runs anywhere.
 */
let seq = 0;
const nextId = (prefix: string) => `${prefix}-${++seq}`;

export const inventory = {
  reserved: new Map<string, { sku: string; qty: number }[]>(),
  async reserve(items: { sku: string; qty: number }[]): Promise<string> {
    const id = nextId('res');
    this.reserved.set(id, items);
    return id;
  },
  async release(reservationId: string): Promise<void> {
    this.reserved.delete(reservationId);
  },
};

export const payments = {
  /** Payment intents whose capture the card issuer declines. */
  declined: new Set<string>(),
  captured: new Map<string, number>(),
  refunded: new Set<string>(),
  async createIntent(amountCents: number, declined = false): Promise<string> {
    const id = nextId('pi');
    if (declined) this.declined.add(id);
    void amountCents;
    return id;
  },
  async capture(paymentId: string, amountCents: number): Promise<string> {
    if (this.declined.has(paymentId)) throw new Error(`card declined for ${paymentId}`);
    const chargeId = nextId('ch');
    this.captured.set(chargeId, amountCents);
    return chargeId;
  },
  async refund(chargeId: string): Promise<void> {
    this.refunded.add(chargeId);
  },
};

export const shipping = {
  async dispatch(orderId: string): Promise<string> {
    return `TRK-${orderId}`;
  },
};
