import { FsmError } from './errors.js';
import { pushEvent } from './engine/factories.js';
import { toInstance, type HistoryEntry, type Instance } from './instance.js';
import { encodeTransfer } from './instance-transfer.js';
import type { FsmEvent, InstanceRecord } from './records.js';
import { deserialize, superjsonSerializer, type Serializer } from './serializer.js';
import type { HistoryOptions, ListFilter, Store } from './store.js';

export interface InstanceClientOptions {
  /** The machine's name, as its tables are named. */
  machine: string;
  store: Store;
  /** How the machine's data was serialized. Default: the superjson serializer runners use. */
  serializer?: Serializer;
}

/**
 * Reads and administers the instances of one machine without its handlers: what tools (such as
 * `fsm inspect`) and dashboards need. Runners use the same client for their reads.
 */
export class InstanceClient<TData = unknown, TState extends string = string> {
  readonly machine: string;
  readonly store: Store;
  private readonly serializer: Serializer;

  constructor(options: InstanceClientOptions) {
    this.machine = options.machine;
    this.store = options.store;
    this.serializer = options.serializer ?? superjsonSerializer;
  }

  async get(id: string): Promise<Instance<TData, TState>> {
    return this.instance(await this.load(id));
  }

  async find(id: string): Promise<Instance<TData, TState> | undefined> {
    const rec = await this.store.get(this.machine, id);
    return rec && this.readable(rec);
  }

  /** Instances matching `filter`; one whose data cannot be read comes back with `dataError`, not as a failure of the whole list. */
  async list(filter?: ListFilter): Promise<Array<Instance<TData, TState>>> {
    const rows = await this.store.list(this.machine, filter);
    return Promise.all(rows.map((rec) => this.readable(rec)));
  }

  async history(id: string, options?: HistoryOptions): Promise<Array<HistoryEntry<TData>>> {
    const rows = await this.store.history(this.machine, id, options);
    const ctx = { machine: this.machine, id };
    const read = async (text: string) => (text === '' ? (undefined as TData) : ((await deserialize(this.serializer, text, ctx)) as TData));
    return Promise.all(rows.map(async (h) => ({ ...h, dataBefore: await read(h.dataBefore), dataAfter: await read(h.dataAfter) })));
  }

  async currentStates(ids: string[]): Promise<Map<string, TState>> {
    return (await this.store.currentStates(this.machine, ids)) as Map<string, TState>;
  }

  /**
   * Pauses an instance that is not running at once; a running one is asked to pause, and its
   * drive (here or in another process) pauses it at its next step boundary.
   */
  async pause(id: string, reason?: string): Promise<Instance<TData, TState>> {
    const why = reason ?? null;
    for (let tries = 0; ; tries++) {
      const rec = await this.load(id);
      if (rec.status === 'paused') return this.instance(rec);
      if (rec.status === 'done' || rec.status === 'compensated' || rec.status === 'failed') throw badState(rec, 'pause');
      if (rec.status === 'running') {
        await this.store.requestPause(rec.machine, id, why);
        return this.instance({ ...rec, pauseRequested: true, pauseReason: why });
      }
      const next: InstanceRecord = { ...rec, status: 'paused', pauseReason: why, updatedAt: new Date(), leaseOwner: null, leaseExpiresAt: null };
      const events: FsmEvent[] = [];
      const data = await this.readData(rec);
      pushEvent(events, next, { type: 'instance.paused', from: rec.currentState, to: rec.currentState, step: null, data, time: next.updatedAt });
      try {
        next.version = rec.version + 1;
        await this.store.commit({ record: next, previous: rec, expectedVersion: rec.version, history: [], events, clearPauseRequest: true });
        return toInstance({ ...next, pauseRequested: false }, data as TData);
      } catch (error) {
        // It started running between our read and write: go round once more to request the pause.
        if (tries < 3 && error instanceof FsmError && error.code === 'FSM_STALE_VERSION') continue;
        throw error;
      }
    }
  }

  /** The instance and its history as text, to restore elsewhere with a runner's `importInstance`. */
  async exportInstance(id: string): Promise<string> {
    const rec = await this.load(id);
    return encodeTransfer(rec, await this.store.history(rec.machine, id));
  }

  async load(id: string): Promise<InstanceRecord> {
    const rec = await this.store.get(this.machine, id);
    if (!rec) throw new FsmError('FSM_NOT_FOUND', `no ${this.machine} instance with id ${id}`, { context: { machine: this.machine, id } });
    return rec;
  }

  readData(rec: InstanceRecord): Promise<unknown> {
    return deserialize(this.serializer, rec.serializedState, { machine: rec.machine, id: rec.id });
  }

  async instance(rec: InstanceRecord): Promise<Instance<TData, TState>> {
    return toInstance(rec, (await this.readData(rec)) as TData);
  }

  private async readable(rec: InstanceRecord): Promise<Instance<TData, TState>> {
    try {
      return await this.instance(rec);
    } catch (error) {
      if (!(error instanceof FsmError)) throw error;
      return { ...toInstance<TData, TState>(rec, undefined as TData), dataError: error };
    }
  }
}

export function badState(rec: InstanceRecord, action: string): FsmError {
  const hint =
    rec.status === 'paused'
      ? 'resume it first'
      : rec.status === 'failed'
        ? 'resume it to retry, or compensate it'
        : rec.status === 'idle'
          ? 'it rests until a transition or a call moves it'
          : 'it has finished';
  return new FsmError('FSM_INVALID_STATE', `cannot ${action} ${rec.machine} instance ${rec.id}: it is ${rec.status}; ${hint}`, {
    context: { machine: rec.machine, id: rec.id, status: rec.status, action },
  });
}
