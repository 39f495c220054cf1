import { randomUUID } from 'node:crypto';
import { isFsmError } from '@fsmkit/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { event, range } from './support/events.js';
import { mysqlUnavailable, testOutbox, type TestOutbox } from './support/mysql.js';

const unavailable = await mysqlUnavailable();

describe.skipIf(unavailable !== null)('MysqlOutbox.enqueue outside a transaction', () => {
  let db: TestOutbox | undefined;
  afterEach(async () => {
    await db?.drop();
    db = undefined;
  });

  it('calls that arrive while others are written share one INSERT, each instance in order', async () => {
    db = await testOutbox();
    let commits = 0;
    const stop = db.outbox.watch(() => commits++);
    const instances = range(10).map(() => randomUUID());
    await Promise.all(instances.map((id) => db!.outbox.enqueue([event(id, 1), event(id, 2)])));
    stop();
    // Two go at once, alone; the eight that waited for them go together.
    expect(commits).toBe(3);
    const rows = await db.rows();
    expect(rows).toHaveLength(20);
    for (const id of instances) expect(rows.filter((r) => r.instanceId === id).map((r) => r.sequence)).toEqual([1, 2]);
  });

  it('a refused row fails only its own call; the calls grouped with it are written', async () => {
    db = await testOutbox();
    const first = event(randomUUID(), 1);
    await db.outbox.enqueue([first]);
    const instances = range(10).map(() => randomUUID());
    const calls = instances.map((id, i) =>
      // The seventh call repeats an event id already stored: the unique key refuses it.
      db!.outbox.enqueue(i === 6 ? [event(id, 1), { ...event(id, 2), eventId: first.eventId }] : [event(id, 1)]),
    );
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.map((o) => o.status)).toEqual(instances.map((_, i) => (i === 6 ? 'rejected' : 'fulfilled')));
    const refused = outcomes[6] as PromiseRejectedResult;
    expect(isFsmError(refused.reason, 'FSM_STORE')).toBe(true);
    const stored = (await db.rows()).map((r) => r.instanceId);
    expect(stored).toHaveLength(10);
    expect(stored).not.toContain(instances[6]);
    for (const [i, id] of instances.entries()) if (i !== 6) expect(stored).toContain(id);
  });
});
