import { FULL, type ChaosOptions } from './chaos.js';

/** The configuration CI runs (under 3 minutes on 2 cores): fewer instances and kills, one 15 s broker stop. */
export const QUICK: ChaosOptions = {
  ...FULL,
  instances: 150,
  users: 15,
  stepMs: 100,
  createOverMs: 15_000,
  chaosMs: 60_000,
  processKillEveryMs: 6000,
  connectionKillEveryMs: 2000,
  brokerStopAtMs: 8000,
  brokerStopMs: 15_000,
  settleMs: 60_000,
};
