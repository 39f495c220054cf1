import { describe, expect, it } from 'vitest';
import { eventCounts, stepCounts } from './verdict.js';

describe('stepCounts', () => {
  const path = ['reserve', 'review', 'review', 'charge', 'ship'];
  it('counts nothing for the path as it should be', () => {
    expect(stepCounts(path, path)).toEqual({ duplicates: 0, missing: false });
  });
  it('counts a step committed twice, also a loop step beyond its rounds', () => {
    expect(stepCounts(path, ['reserve', 'reserve', 'review', 'review', 'charge', 'ship'])).toEqual({ duplicates: 1, missing: false });
    expect(stepCounts(path, ['reserve', 'review', 'review', 'review', 'charge', 'charge', 'ship'])).toEqual({ duplicates: 2, missing: false });
  });
  it('sees a missing step, also a missing round of a loop', () => {
    expect(stepCounts(path, ['reserve', 'review', 'charge', 'ship'])).toEqual({ duplicates: 0, missing: true });
    expect(stepCounts(path, [])).toEqual({ duplicates: 0, missing: true });
  });
});

describe('eventCounts', () => {
  const ev = (instanceId: string, sequence: number, eventId = `${instanceId}-${sequence}`) => ({ eventId, instanceId, sequence });
  const msg = (e: { eventId: string; instanceId: string; sequence: number }, key = e.instanceId) => ({ ...e, key });
  const outbox = [ev('a', 1), ev('a', 2), ev('a', 3), ev('b', 1), ev('b', 2)];

  it('counts nothing when every event arrives once, in order, instances interleaved', () => {
    expect(eventCounts(outbox, [outbox[0]!, outbox[3]!, outbox[1]!, outbox[4]!, outbox[2]!].map((e) => msg(e)))).toEqual({
      missing: 0,
      outOfOrder: 0,
      foreign: 0,
      duplicates: 0,
    });
  });
  it('allows a redelivery with the same event id, and keeps order by first deliveries', () => {
    const consumed = [outbox[0]!, outbox[1]!, outbox[0]!, outbox[1]!, outbox[2]!, outbox[3]!, outbox[4]!].map((e) => msg(e));
    expect(eventCounts(outbox, consumed)).toEqual({ missing: 0, outOfOrder: 0, foreign: 0, duplicates: 2 });
  });
  it('counts missing and out-of-order events', () => {
    const consumed = [outbox[1]!, outbox[0]!, outbox[2]!, outbox[3]!].map((e) => msg(e));
    expect(eventCounts(outbox, consumed)).toMatchObject({ missing: 1, outOfOrder: 2, foreign: 0 });
  });
  it('counts an event no commit wrote, a second id for one sequence and a wrong key as foreign', () => {
    const consumed = [...outbox.map((e) => msg(e)), msg(ev('a', 2, 'other')), msg(ev('c', 1)), msg(outbox[3]!, 'a')];
    expect(eventCounts([...outbox, ev('a', 2, 'other')], consumed)).toMatchObject({ foreign: 3, missing: 0 });
  });
});
