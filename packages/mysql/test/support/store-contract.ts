/**
 * History paging and pruning, written once and run against every store: the memory store
 * (store-contract.test.ts) and MysqlStore (store.int.test.ts).
 */
import { createRunner, FsmError, type InstanceRecord, type InstanceStatus, type Store } from '@fsmkit/runtime';
import { describe, expect, it } from 'vitest';
import { machine as defineTestMachine } from '../../../runtime/test/support/machines.js';
import { historyRecord, instanceRecord, nextRecord } from './records.js';

export interface ContractFixture {
  store: Store;
  /** Machines the fixture's store has tables for. */
  machines: { paging: string; prune: string; race: string };
}

const DAY = 86_400_000;

export function storeContract(label: string, fixture: () => ContractFixture): void {
  describe(`history paging and pruning on the ${label} store`, () => {
    /** An instance with `rows` history rows, seq 1..rows, started a second apart. */
    async function withHistory(machine: string, rows: number, overrides: Partial<InstanceRecord> = {}): Promise<InstanceRecord> {
      const { store } = fixture();
      const rec = instanceRecord(machine, overrides);
      await store.insert(rec, []);
      const history = Array.from({ length: rows }, (_, i) =>
        historyRecord(rec, i + 1, {
          dataBefore: `{"json":{"n":${i}}}`,
          dataAfter: `{"json":{"n":${i + 1}}}`,
          startedAt: new Date(Date.UTC(2026, 10, 22, 10, 0, i)),
          finishedAt: new Date(Date.UTC(2026, 10, 22, 10, 0, i, 500)),
        }),
      );
      const next = nextRecord(rec, { historySeq: rows, status: rec.status, updatedAt: rec.updatedAt });
      await store.commit({ record: next, expectedVersion: rec.version, history, events: [] });
      return next;
    }
    const seqs = (rows: Array<{ seq: number }>) => rows.map((h) => h.seq);

    it('pages through history by limit and afterSeq, in either order, from a time on', async () => {
      const { store, machines } = fixture();
      const M = machines.paging;
      const rec = await withHistory(M, 7);
      expect(seqs(await store.history(M, rec.id))).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(seqs(await store.history(M, rec.id, { limit: 3 }))).toEqual([1, 2, 3]);
      expect(seqs(await store.history(M, rec.id, { limit: 3, afterSeq: 3 }))).toEqual([4, 5, 6]);
      expect(seqs(await store.history(M, rec.id, { afterSeq: 6 }))).toEqual([7]);
      expect(seqs(await store.history(M, rec.id, { afterSeq: 7 }))).toEqual([]);
      expect(seqs(await store.history(M, rec.id, { order: 'desc' }))).toEqual([7, 6, 5, 4, 3, 2, 1]);
      expect(seqs(await store.history(M, rec.id, { order: 'desc', limit: 2 }))).toEqual([7, 6]);
      expect(seqs(await store.history(M, rec.id, { order: 'desc', afterSeq: 4 }))).toEqual([7, 6, 5]);
      expect(seqs(await store.history(M, rec.id, { since: new Date(Date.UTC(2026, 10, 22, 10, 0, 4)) }))).toEqual([5, 6, 7]);
      expect(seqs(await store.history(M, rec.id, { since: new Date(Date.UTC(2026, 10, 22, 10, 0, 4)), limit: 1, afterSeq: 5 }))).toEqual([6]);
      expect(await store.history(M, rec.id, { limit: 0 })).toEqual([]);

      // Pages of 2 see every row once.
      const seen: number[] = [];
      for (let after = 0; ; ) {
        const page = await store.history(M, rec.id, { limit: 2, afterSeq: after });
        if (page.length === 0) break;
        seen.push(...seqs(page));
        after = page.at(-1)!.seq;
      }
      expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
    });

    it('leaves the data out when asked, and every other field as stored', async () => {
      const { store, machines } = fixture();
      const M = machines.paging;
      const rec = await withHistory(M, 3);
      const full = await store.history(M, rec.id);
      const lean = await store.history(M, rec.id, { withData: false, order: 'desc' });
      expect(lean.map((h) => [h.dataBefore, h.dataAfter])).toEqual([
        ['', ''],
        ['', ''],
        ['', ''],
      ]);
      expect(lean.reverse()).toEqual(full.map((h) => ({ ...h, dataBefore: '', dataAfter: '' })));
      expect(full[0]!.dataAfter).toBe('{"json":{"n":1}}');
    });

    it("gives back history rows as stored, times and metadata included, each read the caller's own copy", async () => {
      const { store, machines } = fixture();
      const M = machines.paging;
      const rec = instanceRecord(M);
      await store.insert(rec, []);
      const row = historyRecord(rec, 1, {
        metadata: { charged: 42, by: 'ann' },
        startedAt: new Date(Date.UTC(2026, 10, 22, 10, 0, 0, 125)),
        finishedAt: new Date(Date.UTC(2026, 10, 22, 10, 0, 1, 250)),
      });
      await store.commit({ record: nextRecord(rec, { historySeq: 1, status: rec.status, updatedAt: rec.updatedAt }), expectedVersion: rec.version, history: [row], events: [] });
      // What was committed is the caller's: changing it afterwards changes nothing stored.
      row.startedAt.setTime(0);
      const [first] = await store.history(M, rec.id);
      expect(first!.startedAt).toEqual(new Date(Date.UTC(2026, 10, 22, 10, 0, 0, 125)));
      expect(first!.finishedAt).toEqual(new Date(Date.UTC(2026, 10, 22, 10, 0, 1, 250)));
      expect(first!.metadata).toEqual({ charged: 42, by: 'ann' });
      first!.finishedAt.setTime(0);
      first!.metadata['charged'] = 0;
      const [again] = await store.history(M, rec.id);
      expect([again!.finishedAt, again!.metadata]).toEqual([new Date(Date.UTC(2026, 10, 22, 10, 0, 1, 250)), { charged: 42, by: 'ann' }]);
    });

    it("keeps its own copy of a committed row's metadata and error, and gives each read its own", async () => {
      const { store, machines } = fixture();
      const M = machines.paging;
      const rec = instanceRecord(M);
      await store.insert(rec, []);
      const error = { name: 'Error', message: 'card declined', code: 'DECLINED' };
      const row = historyRecord(rec, 1, { metadata: { charged: 42 }, error: { ...error } });
      await store.commit({ record: nextRecord(rec, { historySeq: 1, status: rec.status, updatedAt: rec.updatedAt }), expectedVersion: rec.version, history: [row], events: [] });
      row.metadata['charged'] = 0;
      row.error!.message = 'changed by the writer';
      const [first] = await store.history(M, rec.id);
      expect([first!.metadata, first!.error]).toEqual([{ charged: 42 }, error]);
      first!.error!.message = 'changed by a reader';
      const [again] = await store.history(M, rec.id);
      expect(again!.error).toEqual(error);
    });

    it('refuses history options it cannot honour with FSM_INPUT_INVALID', async () => {
      const { store, machines } = fixture();
      const rec = await withHistory(machines.paging, 1);
      for (const bad of [{ limit: -1 }, { limit: 1.5 }, { afterSeq: Number.NaN }, { since: new Date('nope') }, { order: 'up' }] as const) {
        const error = await store.history(machines.paging, rec.id, bad as never).catch((e: unknown) => e);
        expect(error, JSON.stringify(bad)).toBeInstanceOf(FsmError);
        expect(error).toMatchObject({ code: 'FSM_INPUT_INVALID' });
      }
    });

    it('prunes finished instances older than the cutoff with their history, and nothing else', async () => {
      const { store, machines } = fixture();
      const M = machines.prune;
      const old = new Date(Date.now() - 40 * DAY);
      const recent = new Date(Date.now() - DAY);
      const make = (status: InstanceStatus, updatedAt: Date, rows = 2) => withHistory(M, rows, { status, updatedAt, userId: `prune-${status}` });
      const doomed = [await make('done', old), await make('failed', old), await make('compensated', old, 4)];
      const kept = [
        await make('running', old),
        await make('paused', old),
        await make('waiting', old),
        await make('ready', old),
        await make('done', recent),
        await make('failed', recent),
      ];
      const before = await Promise.all(kept.map(async (r) => [await store.get(M, r.id), await store.history(M, r.id)]));

      const refused = await store.prune!(M, { olderThan: new Date(Date.now() - 30 * DAY), statuses: ['done', 'running' as never] }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'FSM_INPUT_INVALID' });
      expect(await store.prune!(M, { olderThan: new Date(Date.now() - 30 * DAY), statuses: ['failed'] })).toEqual({ instances: 1, historyRows: 2, inboxRows: 0 });
      expect(await store.get(M, doomed[1]!.id)).toBeUndefined();

      expect(await store.prune!(M, { olderThan: new Date(Date.now() - 30 * DAY) })).toEqual({ instances: 2, historyRows: 6, inboxRows: 0 });
      for (const r of doomed) {
        expect(await store.get(M, r.id)).toBeUndefined();
        expect(await store.history(M, r.id)).toEqual([]);
      }
      expect(await Promise.all(kept.map(async (r) => [await store.get(M, r.id), await store.history(M, r.id)]))).toEqual(before);
      expect(await store.prune!(M, { olderThan: new Date(Date.now() - 30 * DAY) })).toEqual({ instances: 0, historyRows: 0, inboxRows: 0 });
    });

    it('prunes in batches until none is left', async () => {
      const { store, machines } = fixture();
      const M = machines.prune;
      const cutoff = new Date(Date.now() - 100 * DAY);
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) ids.push((await withHistory(M, 1, { status: 'done', updatedAt: new Date(cutoff.getTime() - (i + 1) * 1000) })).id);
      expect(await store.prune!(M, { olderThan: cutoff, batchSize: 2 })).toEqual({ instances: 7, historyRows: 7, inboxRows: 0 });
      expect(await store.currentStates(M, ids)).toEqual(new Map());
      expect(await store.prune!(M, { olderThan: cutoff, batchSize: 0 }).catch((e: unknown) => e)).toMatchObject({ code: 'FSM_INPUT_INVALID' });
    });

    it('prunes while a runner drives other instances: nothing running is touched, no history is left behind', async () => {
      const { store, machines } = fixture();
      const M = machines.race;
      const steps = 5;
      const def = defineTestMachine<{ n: number }>(
        { name: M },
        Object.fromEntries(Array.from({ length: steps }, (_, i) => [`s${i}`, { order: i + 1 }])),
        Object.fromEntries(
          Array.from({ length: steps }, (_, i) => [
            `s${i}`,
            async (ctx: { data: { n: number } }) => {
              await new Promise((r) => setTimeout(r, 1));
              ctx.data.n = i + 1;
            },
          ]),
        ),
      );
      const runner = createRunner(def, { store });
      const bystander = await withHistory(M, 3, { status: 'running', updatedAt: new Date(Date.now() - 40 * DAY) });
      for (let round = 0; round < 3; round++) {
        let driving = true;
        const runs = Promise.all(Array.from({ length: 12 }, () => runner.start({ n: 0 }))).finally(() => (driving = false));
        let pruned = 0;
        const pruning = (async () => {
          // Everything that is done by now counts as old: prune races the runner's commits.
          while (driving) {
            pruned += (await store.prune!(M, { olderThan: new Date(Date.now() + DAY), statuses: ['done'], batchSize: 3 })).instances;
            // The memory store answers without a turn of the event loop: let the runner's timers fire.
            await new Promise((r) => setImmediate(r));
          }
        })();
        const finished = await runs;
        await pruning;
        expect(finished.map((i) => [i.status, i.data.n])).toEqual(finished.map(() => ['done', steps]));
        for (const instance of finished) {
          const stored = await store.get(M, instance.id);
          const history = await store.history(M, instance.id);
          // Either gone with all its history, or whole.
          if (stored === undefined) expect(history).toEqual([]);
          else expect([stored.status, history.length]).toEqual(['done', steps]);
        }
        const left = finished.filter((i) => i.id !== bystander.id);
        const remaining = await store.currentStates(M, left.map((i) => i.id));
        expect(pruned + remaining.size).toBe(left.length);
        expect(await store.prune!(M, { olderThan: new Date(Date.now() + DAY), statuses: ['done'] })).toEqual({
          instances: remaining.size,
          historyRows: remaining.size * steps,
          inboxRows: 0,
        });
      }
      expect(await store.get(M, bystander.id)).toMatchObject({ status: 'running', version: bystander.version });
      expect(await store.history(M, bystander.id)).toHaveLength(3);
    });
  });
}
