export * from '@fsmkit/decorators';
export {
  createRunner,
  EVENT_SCHEMA_VERSION,
  type CreateOptions,
  type DeliverOptions,
  type DeliveryResult,
  type StartManyCallOptions,
  type StartManyItems,
  type Hook,
  type HookEvent,
  type MachineRunner,
  type RunnerOptions,
  type TransitionCallOptions,
  type TransitionInputs,
} from './runner.js';
export type { Instance, HistoryEntry } from './instance.js';
export type { JoinOptions, MapOptions, SpawnOptions } from '@fsmkit/decorators';
export type { ChainFrom, ChainLink } from './chain.js';
export type { StartManyOptions, StartManyProgress, StartManyResult } from './start-many.js';
export { FsmError, isFsmError, errorInfo, type ErrorInfo, type FsmErrorCode } from './errors.js';
export type { InstanceRecord, HistoryRecord, FsmEvent, FsmEventType, InstanceStatus, Direction } from './records.js';
export { INSTANCE_STATUSES, EVENT_TYPES } from './records.js';
export type {
  Store,
  Commit,
  CommitResult,
  Delivery,
  DeliveryOutcome,
  MessageTake,
  ListFilter,
  ClaimOptions,
  LeaseRenewal,
  HistoryOptions,
  PruneOptions,
  PruneResult,
  StatsOptions,
  StepStats,
  StatsBucket,
  MachineStats,
} from './store.js';
export { FINISHED_STATUSES, checkHistoryOptions, checkPruneOptions } from './store-options.js';
export { CHILDREN_WAIT, QUEUED_CHILD } from './engine/waits.js';
export { Worker, type WorkOptions } from './worker.js';
export type { Locker, Lease, AcquireMode, AcquireOptions } from './locker.js';
export type { EventSink } from './event-sink.js';
export { EVENT_HEADERS, eventHeaders } from './event-headers.js';
export { MemorySink } from './event-sink.js';
export { MemoryStore, isClaimable, type MemoryStoreOptions } from './memory-store.js';
export { InstanceClient, type InstanceClientOptions } from './client.js';
export { MemoryLocker, processLocker } from './memory-locker.js';
export { superjsonSerializer, jsonSerializer, serialize, deserialize, type Serializer } from './serializer.js';
export { noopLogger, consoleLogger, safeLogger, type Logger } from './logger.js';
export { uuidv7, uuidv7Time } from './ids.js';
export { definitionHash } from './definition-hash.js';
export { toJsonSafe } from './json-safe.js';
export type { InboxMessage } from './engine/waits.js';
