import { uuidv7, type FsmEvent, type HistoryRecord, type InstanceRecord } from '@fsmkit/runtime';

/** A record with every field set to something a round trip could get wrong. */
export function instanceRecord(machine: string, overrides: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    id: uuidv7(),
    machine,
    userId: 'user-1',
    currentState: 'reserve',
    status: 'ready',
    direction: 'forward',
    resumeFromStep: 1,
    saveAfterStep: true,
    kafkaEventTopic: 'orders.fsm',
    serializedState: JSON.stringify({ json: { orderId: 'o-1', note: 'x'.repeat(900) } }),
    version: 1,
    definitionHash: '0123456789abcdef',
    definitionVersion: 1,
    isGlobalLock: false,
    isLocalLock: true,
    pauseRequested: false,
    pauseReason: null,
    lastError: null,
    attempts: 0,
    nextRunAt: null,
    leaseOwner: null,
    leaseExpiresAt: null,
    takeovers: 0, priority: 0, waitMessage: null, waitKey: null, waitingFor: null, parentMachine: null, parentId: null, chainedFrom: null,
    historySeq: 0,
    eventSeq: 0,
    createdAt: new Date('2026-11-22T10:00:00.123Z'),
    updatedAt: new Date('2026-11-22T10:00:00.123Z'),
    ...overrides,
  };
}

/** The record as the next commit would write it: one step further. */
export function nextRecord(r: InstanceRecord, overrides: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    ...r,
    version: r.version + 1,
    currentState: 'charge',
    status: 'running',
    resumeFromStep: 2,
    serializedState: JSON.stringify({ json: { orderId: 'o-1', step: r.version + 1 } }),
    historySeq: r.historySeq + 1,
    eventSeq: r.eventSeq + 1,
    updatedAt: new Date(r.updatedAt.getTime() + 1001),
    ...overrides,
  };
}

export function historyRecord(r: InstanceRecord, seq: number, overrides: Partial<HistoryRecord> = {}): HistoryRecord {
  return {
    id: uuidv7(),
    instanceId: r.id,
    machine: r.machine,
    seq,
    handler: 'reserve',
    step: 'reserve',
    direction: 'forward',
    stateBefore: 'reserve',
    stateAfter: 'charge',
    dataBefore: '{"json":{"n":1}}',
    dataAfter: '{"json":{"n":2}}',
    metadata: { seq, note: 'ü' },
    error: null,
    attempt: 1,
    startedAt: new Date('2026-11-22T10:00:01.001Z'),
    finishedAt: new Date('2026-11-22T10:00:01.999Z'),
    transition: null,
    actor: null,
    result: null,
    ...overrides,
  };
}

export function event(r: InstanceRecord, sequence: number, overrides: Partial<FsmEvent> = {}): FsmEvent {
  return {
    eventId: uuidv7(),
    type: 'step.completed',
    schemaVersion: 1,
    machine: r.machine,
    topic: 'orders.fsm',
    instanceId: r.id,
    userId: r.userId,
    from: 'reserve',
    to: 'charge',
    status: 'running',
    direction: 'forward',
    step: 'reserve',
    sequence,
    time: '2026-11-22T10:00:02.345Z',
    data: { orderId: 'o-1' },
    ...overrides,
  };
}
