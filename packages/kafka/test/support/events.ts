import { randomUUID } from 'node:crypto';
import type { FsmEvent } from '@fsmkit/runtime';

/** An event of `instanceId` with the given sequence, as the runtime would commit it. */
export function event(instanceId: string, sequence: number, topic = 'orders.fsm', overrides: Partial<FsmEvent> = {}): FsmEvent {
  return {
    eventId: randomUUID(),
    type: sequence === 1 ? 'instance.created' : 'step.completed',
    schemaVersion: 1,
    machine: 'order',
    topic,
    instanceId,
    userId: 'u1',
    from: `s${sequence - 1}`,
    to: `s${sequence}`,
    status: 'running',
    direction: 'forward',
    step: `s${sequence}`,
    sequence,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, sequence)).toISOString(),
    data: { n: sequence },
    ...overrides,
  };
}

/** Events 1..count of each instance, interleaved the way concurrent commits would write them. */
export function interleaved(instances: string[], count: number, topic?: string): FsmEvent[] {
  const out: FsmEvent[] = [];
  for (let seq = 1; seq <= count; seq++) for (const id of instances) out.push(event(id, seq, topic));
  return out;
}

export interface Delivered {
  topic: string;
  key: string;
  instanceId: string;
  sequence: number;
  eventId: string;
}

/** Checks what a consumer saw: every instance's events in sequence order 1..n, none twice. */
export function perInstanceSequences(delivered: Delivered[]): Map<string, number[]> {
  const map = new Map<string, number[]>();
  for (const d of delivered) {
    let list = map.get(d.instanceId);
    if (!list) map.set(d.instanceId, (list = []));
    list.push(d.sequence);
  }
  return map;
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
