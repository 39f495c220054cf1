import { FsmError } from './errors.js';
import type { InstanceRecord } from './records.js';
import { deserialize, type Serializer } from './serializer.js';
import type { Store } from './store.js';

/** Where a chained instance starts from: another instance's final data, or its data after one step. */
export interface ChainFrom<TData = unknown> {
  instanceId: string;
  /** The source's machine (its instances in the same store). Default: the machine being started. */
  machine?: string;
  /**
   * Start from the data after this step (its last completed forward visit, from history)
   * instead of the final data of a `done` instance.
   */
  step?: string;
  /** Turns the source's data into the new instance's data; may be async. Default: taken as is. */
  transform?(data: unknown, source: ChainLink): TData | Promise<TData>;
}

/** The link a chained instance keeps to its source (`Instance.chainedFrom`). */
export interface ChainLink {
  machine: string;
  id: string;
  /** Set when the instance started from the data after this step. */
  step?: string;
}

/**
 * Reads the data a chained instance starts from, with the same serializer as the machine's
 * own data. Refused with a typed error when the source does not exist, has not ended `done`
 * (for its final data), or never completed the step.
 */
export async function chainSource(store: Store, serializer: Serializer, from: ChainFrom<unknown>, machine: string): Promise<{ data: unknown; link: ChainLink }> {
  if (typeof from.instanceId !== 'string' || from.instanceId === '') {
    throw new FsmError('FSM_INPUT_INVALID', `create option from.instanceId is ${JSON.stringify(from.instanceId)}; expected the id of the instance to start from`, {
      context: { machine, option: 'from.instanceId', value: from.instanceId },
    });
  }
  const link: ChainLink = { machine: from.machine ?? machine, id: from.instanceId };
  if (from.step !== undefined) link.step = from.step;
  const context = { machine: link.machine, id: link.id, step: link.step ?? null };
  const source: InstanceRecord | undefined = await store.get(link.machine, link.id);
  if (source === undefined) {
    throw new FsmError('FSM_NOT_FOUND', `cannot chain from ${link.machine} instance ${link.id}: there is no such instance`, { context });
  }
  let text: string;
  if (link.step === undefined) {
    if (source.status !== 'done') {
      throw new FsmError(
        'FSM_SOURCE_NOT_DONE',
        `cannot start from the final data of ${link.machine} instance ${link.id}: it is ${source.status}, not done; wait until it ends, or chain from a step it completed`,
        { context: { ...context, status: source.status } },
      );
    }
    text = source.serializedState;
  } else {
    const rows = await store.history(link.machine, link.id, { order: 'desc' });
    const visit = rows.find((h) => h.step === link.step && h.direction === 'forward' && h.error === null && h.transition === null);
    if (visit === undefined) {
      throw new FsmError(
        'FSM_SOURCE_STEP_NOT_COMPLETED',
        `cannot start from step "${link.step}" of ${link.machine} instance ${link.id}: its history has no completed visit of that step (a step name it does not have, one it has not reached yet, or a runner that keeps no history)`,
        { context },
      );
    }
    text = visit.dataAfter;
  }
  const data = await deserialize(serializer, text, { machine: link.machine, id: link.id });
  return { data: from.transform ? await from.transform(data, { ...link }) : data, link };
}

/** `Instance.chainedFrom` from the stored JSON text. */
export function readChainLink(text: string | null): ChainLink | null {
  if (text === null) return null;
  const parsed = JSON.parse(text) as ChainLink;
  const link: ChainLink = { machine: parsed.machine, id: parsed.id };
  if (parsed.step !== undefined) link.step = parsed.step;
  return link;
}
