import { describe, expect, it } from 'vitest';
import { MemoryStore, type FsmEvent, type InstanceRecord } from '../src/index.js';

function record(id: string): InstanceRecord {
  return {
    id, machine: 'order', userId: null, currentState: 's1', status: 'ready', direction: 'forward', resumeFromStep: 1,
    saveAfterStep: true, kafkaEventTopic: 'orders.fsm', serializedState: '{}', version: 1, definitionHash: '0123456789abcdef',
    definitionVersion: 1, isGlobalLock: false, isLocalLock: false, pauseRequested: false, pauseReason: null, lastError: null,
    attempts: 0, nextRunAt: null, takeovers: 0, priority: 0, waitMessage: null, waitKey: null, waitingFor: null, parentMachine: null, parentId: null, chainedFrom: null, historySeq: 0, eventSeq: 1, createdAt: new Date(), updatedAt: new Date(),
  };
}

function created(id: string): FsmEvent {
  return {
    eventId: `e-${id}`, type: 'instance.created', schemaVersion: 1, machine: 'order', topic: 'orders.fsm', instanceId: id, userId: null,
    from: '', to: 's1', status: 'ready', direction: 'forward', step: null, sequence: 1, time: new Date().toISOString(), data: {},
  };
}

describe('MemoryStore outbox window', () => {
  it('keeps only the latest outboxLimit events, dropping the oldest, while the sink still gets every one', async () => {
    const seen: string[] = [];
    const store = new MemoryStore({ outboxLimit: 3, sink: { publish: async (events) => void seen.push(...events.map((e) => e.eventId)) } });
    for (const id of ['a', 'b', 'c', 'd', 'e']) await store.insert(record(id), [created(id)]);
    await store.flush();
    expect(store.outbox.map((e) => e.instanceId)).toEqual(['c', 'd', 'e']);
    expect(seen).toEqual(['e-a', 'e-b', 'e-c', 'e-d', 'e-e']);
  });

  it('defaults to 10 000 and refuses a nonsense limit', async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 10_005; i++) await store.insert(record(`i${i}`), [created(`i${i}`)]);
    expect(store.outbox).toHaveLength(10_000);
    expect(store.outbox[0]!.instanceId).toBe('i5');
    expect(() => new MemoryStore({ outboxLimit: -1 })).toThrow(RangeError);
  });
});
