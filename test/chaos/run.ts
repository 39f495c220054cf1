/**
 * `pnpm chaos`: the full chaos run. Progress goes to stderr; the last line on stdout is one
 * JSON object with the counts, and the exit code is 1 when any of them is not what it must be.
 * FSM_CHAOS_QUICK=1 runs the shorter configuration of the integration test; FSM_CHAOS_KEEP=1 keeps
 * the tables and the topic for a look afterwards.
 */
import { abortChaos, FULL, passed, runChaos } from './chaos.js';
import { QUICK } from './quick.js';

// FSM_CHAOS_OPTIONS: a JSON object of options to change, e.g. {"brokerStopMs":0}.
const options = { ...(process.env['FSM_CHAOS_QUICK'] === '1' ? QUICK : FULL), ...(JSON.parse(process.env['FSM_CHAOS_OPTIONS'] || '{}') as object) };
// Interrupted: kill the processes and start the broker again if the run had stopped it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    abortChaos();
    process.exit(130);
  });
}
const result = await runChaos(options);
const { details, ...counts } = result;
console.error(JSON.stringify(details, null, 2));
console.log(JSON.stringify(counts));
process.exit(passed(result) ? 0 : 1);
