/**
 * Instance and history records built by hand, for benchmarks that write through a store
 * without the engine (or measure raw SQL with the same values).
 */
import { uuidv7, type HistoryRecord, type InstanceRecord } from '@fsmkit/runtime';

/** A running instance at step `s1` holding `serializedState`. */
export function benchRecord(machine: string, serializedState: string, extra: Partial<InstanceRecord> = {}): InstanceRecord {
  const now = new Date();
  return {
    id: uuidv7(),
    machine,
    userId: 'bench',
    currentState: 's1',
    status: 'running',
    direction: 'forward',
    resumeFromStep: 1,
    saveAfterStep: true,
    kafkaEventTopic: null,
    serializedState,
    version: 1,
    definitionHash: '0123456789abcdef',
    definitionVersion: 1,
    isGlobalLock: false,
    isLocalLock: false,
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
    createdAt: now,
    updatedAt: now,
    ...extra,
  };
}

/** The history row of step `seq` of `r`, from `s<seq>` to `s<seq + 1>`. */
export function benchHistory(r: InstanceRecord, seq: number, dataBefore: string, dataAfter: string): HistoryRecord {
  const now = new Date();
  return {
    id: uuidv7(),
    instanceId: r.id,
    machine: r.machine,
    seq,
    handler: `s${seq}`,
    step: `s${seq}`,
    direction: 'forward',
    stateBefore: `s${seq}`,
    stateAfter: `s${seq + 1}`,
    dataBefore,
    dataAfter,
    metadata: {},
    error: null,
    attempt: 1,
    startedAt: now,
    finishedAt: now,
    transition: null,
    actor: null,
    result: null,
  };
}
