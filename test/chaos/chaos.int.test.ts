/**
 * The chaos run in its shorter configuration: 4 workers and 2 relays on MariaDB and the real
 * broker, processes SIGKILLed, store connections killed, the broker stopped for 15 s; then
 * nothing lost, nothing run twice, one handler per user at a time, every event delivered in
 * order, nothing left behind. `pnpm chaos` runs the full configuration.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BROKERS, brokerIsManaged, kafkaUnavailable } from '../../packages/kafka/test/support/kafka.js';
import { mysqlUnavailable } from '../../packages/kafka/test/support/mysql.js';
import { abortChaos, runChaos } from './chaos.js';
import { QUICK } from './quick.js';

const unavailable = (await kafkaUnavailable()) ?? (await mysqlUnavailable());

describe.skipIf(unavailable !== null)('chaos', () => {
  // A run cut short by the timeout leaves no process behind, nor the shared broker stopped.
  afterAll(() => abortChaos());
  it('150 instances over 15 users survive kills, lost connections and a stopped broker', async (ctx) => {
    if (!(await brokerIsManaged())) {
      const reason = `the broker at ${BROKERS.join(',')} was not started by scripts/kafka.sh (set FSM_KAFKA_CACHE to its cache folder), so this test cannot stop it`;
      if (process.env['FSM_REQUIRE_SERVICES'] === '1') throw new Error(reason);
      console.warn(`skipping: ${reason}`);
      ctx.skip();
    }
    const result = await runChaos({ ...QUICK, log: (line) => console.info(line) });
    const { details, ...counts } = result;
    console.info(JSON.stringify(counts), JSON.stringify(details));
    expect(counts).toEqual({
      instances: QUICK.instances,
      lost: 0,
      duplicateSteps: 0,
      maxConcurrentPerUser: 1,
      eventsMissing: 0,
      eventsOutOfOrder: 0,
      stuck: 0,
      eventsForeign: 0,
    });
    // The chaos took place: processes and connections were killed, and the broker was down.
    expect(details['processKills']).toBeGreaterThan(0);
    expect(details['connectionKills']).toBeGreaterThan(0);
    expect(details['brokerDownMs']).toBeGreaterThanOrEqual(QUICK.brokerStopMs);
  }, 175_000);
});
