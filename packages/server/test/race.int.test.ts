import { createRunner, defineMachine } from '@fsmkit/runtime';
import { createMysqlStore, type MysqlStore } from '@fsmkit/mysql';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTablesWithPrefix, mysqlUnavailable, uniquePrefix } from '../../mysql/test/support/db.js';
import { createServer } from '../src/index.js';

const unavailable = await mysqlUnavailable();
const TOKEN = 'race-operate-token';

/** Three steps, each stopping after it: every `next` runs exactly one. */
const counter = defineMachine<{ runs: string[] }>({
  name: 'counter',
  immediate: false,
  steps: { a: { order: 1 }, b: { order: 2 }, c: { order: 3 } },
  methods: {
    a: (ctx) => void ctx.data.runs.push('a'),
    b: (ctx) => void ctx.data.runs.push('b'),
    c: (ctx) => void ctx.data.runs.push('c'),
  },
});

describe.skipIf(unavailable !== null)('two API servers on one MariaDB steer the same instance at once', () => {
  const prefix = uniquePrefix();
  const stores: MysqlStore[] = [];
  const apps: FastifyInstance[] = [];

  beforeAll(async () => {
    // Two servers with their own pools and runners: two processes, as far as MySQL can tell.
    for (let i = 0; i < 2; i++) {
      const store = createMysqlStore({ tablePrefix: prefix, poolSize: 4 });
      if (i === 0) await store.ensureSchema([counter.model]);
      stores.push(store);
      apps.push(await createServer({ machines: [{ runner: createRunner(counter, { store }) }], auth: { tokens: [{ token: TOKEN, scopes: ['operate'] }] } }));
    }
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await Promise.all(stores.map((s) => s.close()));
    await dropTablesWithPrefix(prefix);
  });

  const post = (app: FastifyInstance, url: string, payload: object = {}) =>
    app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${TOKEN}` }, payload });

  it('concurrent next and pause: each answer is the instance or a 409 problem, and every step commits once', async () => {
    for (let round = 0; round < 8; round++) {
      const created = (await post(apps[0]!, '/api/fsm/counter/instances', { data: { runs: [] }, run: false })).json();
      const calls = [
        post(apps[0]!, `/api/fsm/counter/${created.id}/next`),
        post(apps[1]!, `/api/fsm/counter/${created.id}/next`),
        post(apps[round % 2]!, `/api/fsm/counter/${created.id}/${round % 3 === 0 ? 'pause' : 'next'}`),
      ];
      const answers = await Promise.all(calls);
      for (const a of answers) {
        expect([200, 409], a.body).toContain(a.statusCode);
        if (a.statusCode === 409) {
          expect(a.headers['content-type']).toMatch(/^application\/problem\+json/);
          expect(['FSM_STALE_VERSION', 'FSM_INSTANCE_BUSY', 'FSM_INVALID_STATE', 'FSM_LOCK_BUSY']).toContain(a.json().code);
        }
      }
      const history = await createRunner(counter, { store: stores[1]! }).history(created.id);
      const stored = await createRunner(counter, { store: stores[0]! }).get(created.id);
      // No step committed twice, none skipped, and the data holds what the history says ran.
      expect(history.map((h) => h.seq)).toEqual(history.map((_, i) => i + 1));
      expect(history.map((h) => h.handler)).toEqual(['a', 'b', 'c'].slice(0, history.length));
      expect(stored.data.runs).toEqual(history.map((h) => h.handler));
      // A refused next left no step behind; one that answered ran at most one (none when a
      // pause asked meanwhile took effect at the boundary before it).
      const nexts = answers.filter((a, i) => a.statusCode === 200 && (i < 2 || round % 3 !== 0));
      expect(history.length, JSON.stringify(answers.map((a) => [a.statusCode, a.json().status ?? a.json().code]))).toBeLessThanOrEqual(nexts.length);
      expect(answers.some((a) => a.statusCode === 200)).toBe(true);
      if (answers.some((a, i) => i === 2 && round % 3 === 0 && a.statusCode === 200)) expect(stored.status === 'paused' || stored.pauseRequested).toBe(true);
    }
  });
});
