import type { Outbox } from '../../src/index.js';

/** The outbox, counting the claims made through it (each counted once it returned). */
export function countingClaims(outbox: Outbox): { outbox: Outbox; claims: () => number } {
  let claims = 0;
  const counted: Outbox = {
    claim: async (...args) => {
      const rows = await outbox.claim(...args);
      claims++;
      return rows;
    },
    markSent: (...args) => outbox.markSent(...args),
    markFailed: (...args) => outbox.markFailed(...args),
  };
  if (outbox.reject) counted.reject = outbox.reject.bind(outbox);
  if (outbox.watch) counted.watch = outbox.watch.bind(outbox);
  return { outbox: counted, claims: () => claims };
}
