/**
 * A process of the message race tests: one runner on MysqlStore that takes commands as JSON
 * lines on stdin (`deliver`, `start`, `run`) and answers each with a JSON line `{ n, result }`
 * or `{ n, code }` (the FsmError code it threw). Prints `ready` first; ends when stdin closes.
 */
import { createInterface } from 'node:readline';
import { createRunner, isFsmError } from '@fsmkit/runtime';
import { createMysqlStore } from '../../src/index.js';
import { payMachine, twoWaitsMachine, type PayData } from './wait-machine.js';

const config = JSON.parse(process.argv[2]!) as { url: string; prefix: string; machine: string };
const store = createMysqlStore({ url: config.url, tablePrefix: config.prefix, poolSize: 8 });
const runner = createRunner(payMachine(config.machine), { store, locker: store.locker() });
const twoWaits = createRunner(twoWaitsMachine(`${config.machine}_two`), { store, locker: store.locker() });
const print = (line: Record<string, unknown>) => console.log(JSON.stringify({ ...line, pid: process.pid }));

type Command =
  | { n: number; op: 'deliver'; key: string; payload: unknown; messageId?: string; message?: string; two?: boolean }
  | { n: number; op: 'start'; data: PayData }
  | { n: number; op: 'run'; id: string };

async function perform(c: Command): Promise<unknown> {
  if (c.op === 'deliver') {
    const r = await (c.two ? twoWaits : runner).deliver(c.message ?? 'payment', c.key, c.payload, c.messageId === undefined ? {} : { messageId: c.messageId });
    return r.outcome === 'delivered' ? { outcome: r.outcome, instanceId: r.instanceId, status: r.instance?.status ?? null } : r;
  }
  const i = c.op === 'start' ? await runner.start(c.data) : await runner.run(c.id);
  return { id: i.id, status: i.status, state: i.state };
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (text) => {
  const c = JSON.parse(text) as Command;
  perform(c).then(
    (result) => print({ n: c.n, result }),
    (error: unknown) => print({ n: c.n, code: isFsmError(error) ? error.code : 'OTHER', detail: error instanceof Error ? error.message : String(error) }),
  );
});
lines.on('close', () => void store.close());
print({ event: 'ready' });
