import {
  definitionFromClass,
  toJsonSafe,
  type FsmEvent,
  type FsmEventType,
  type HistoryEntry,
  type InstanceStatus,
  type MachineRunner,
} from '@fsmkit/runtime';
import { expect } from 'vitest';
import { ParcelMachine, type ParcelData } from '../fixtures/parcel.machine.js';

export const parcels = definitionFromClass<ParcelData>(ParcelMachine);
export type ParcelRunner = MachineRunner<ParcelData>;

/**
 * What can happen to a parcel. Each scenario starts an instance (it stops after customs) and
 * finishes it later; together they produce every state change the issue names: step done,
 * waiting, paused, resumed, failed, compensated, finished.
 */
export type Scenario = 'delivered' | 'held' | 'lost';
export const SCENARIOS: readonly Scenario[] = ['delivered', 'held', 'lost'];

export const EXPECTED_TYPES: Record<Scenario, FsmEventType[]> = {
  // start: created, label, customs, then waits for a courier; run: deliver, done.
  delivered: ['instance.created', 'step.completed', 'step.completed', 'instance.waiting', 'step.completed', 'instance.done'],
  // start: customs pauses it; resume: resumed, deliver, done.
  held: ['instance.created', 'step.completed', 'step.completed', 'instance.paused', 'instance.resumed', 'step.completed', 'instance.done'],
  // run: delivery fails; compensate: label is undone (customs has no back handler: nothing to undo, no event).
  lost: ['instance.created', 'step.completed', 'step.completed', 'instance.waiting', 'instance.failed', 'step.compensated', 'instance.compensated'],
};

export const FINAL: Record<Scenario, { status: InstanceStatus; state: string }> = {
  delivered: { status: 'done', state: 'done' },
  held: { status: 'done', state: 'done' },
  lost: { status: 'compensated', state: 'compensated' },
};

export function scenarioOf(i: number): Scenario {
  return SCENARIOS[i % SCENARIOS.length]!;
}

export function parcelData(i: number, scenario: Scenario): ParcelData {
  return {
    parcelId: `P-${i}`,
    route: ['depot-a', `depot-${i}`],
    weightGrams: 250 + i,
    handedOverAt: new Date(Date.UTC(2026, 10, 22, 8, 0, i % 60)),
    ...(scenario === 'held' ? { holdAtCustoms: true } : {}),
    ...(scenario === 'lost' ? { undeliverable: true } : {}),
  };
}

/** The first half of a scenario: the instance stops after customs (waiting or paused). */
export async function begin(runner: ParcelRunner, i: number, scenario: Scenario, userId?: string): Promise<string> {
  const started = await runner.start(parcelData(i, scenario), userId === undefined ? {} : { userId });
  expect(started.status).toBe(scenario === 'held' ? 'paused' : 'waiting');
  return started.id;
}

/** The second half: the instance ends (done, or compensated after its delivery failed). */
export async function finish(runner: ParcelRunner, id: string, scenario: Scenario): Promise<void> {
  if (scenario === 'held') {
    await runner.resume(id, { holdAtCustoms: false });
  } else if (scenario === 'delivered') {
    await runner.run(id);
  } else {
    expect((await runner.run(id)).status).toBe('failed');
    await runner.compensate(id);
  }
  const end = await runner.get(id);
  expect({ status: end.status, state: end.state }).toEqual(FINAL[scenario]);
}

export async function play(runner: ParcelRunner, i: number, scenario: Scenario): Promise<string> {
  const id = await begin(runner, i, scenario);
  await finish(runner, id, scenario);
  return id;
}

/**
 * The events of one instance tell the same story as its history: every completed, failed and
 * undone handler, in order, with the states and the data the history recorded.
 */
export function expectEventsMatchHistory(events: FsmEvent[], history: Array<HistoryEntry<ParcelData>>): void {
  const row = (h: HistoryEntry<ParcelData>) => ({ step: h.step, from: h.stateBefore, to: h.stateAfter, data: toJsonSafe(h.dataAfter) });
  const event = (e: FsmEvent) => ({ step: e.step, from: e.from, to: e.to, data: e.data });
  expect(events.filter((e) => e.type === 'step.completed').map(event)).toEqual(
    history.filter((h) => h.direction === 'forward' && h.error === null).map(row),
  );
  expect(events.filter((e) => e.type === 'instance.failed').map((e) => e.step)).toEqual(
    history.filter((h) => h.error !== null).map((h) => h.step),
  );
  // Each undone step has its event and its history entry; steps without a back handler are passed over.
  expect(events.filter((e) => e.type === 'step.compensated').map(event)).toEqual(history.filter((h) => h.direction === 'backward').map(row));
}
