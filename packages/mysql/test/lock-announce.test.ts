import { describe, expect, it } from 'vitest';
import { planAnnouncements, type Announcement } from '../src/lock-announce.js';
import { notifyLockName, notifyScope } from '../src/lock-session.js';
import { watchOutcome } from '../src/lock-watch.js';

const lease = (over: Partial<Announcement> = {}): Announcement => ({ token: 1, expiresAt: 10_000, retryAt: 0, ...over });

describe('planAnnouncements', () => {
  it('takes live leases not held yet, once their time came; gives back held names whose lease ended', () => {
    const live = new Map([
      ['a', lease()],
      ['b', lease({ retryAt: 600 })],
      ['c', lease()],
    ]);
    expect(planAnnouncements(live, new Set(['c', 'gone']), new Set(), 500)).toEqual({ take: ['a'], give: ['gone'], expired: [] });
  });

  it('a lease that ran out by the local clock is forgotten and its name given back', () => {
    const live = new Map([['a', lease({ expiresAt: 400 })]]);
    expect(planAnnouncements(live, new Set(['a']), new Set(), 500)).toEqual({ take: [], give: ['a'], expired: ['a'] });
  });

  it('a name whose lease ended is given back and taken again for the next lease of the key here, at once', () => {
    const next = new Map([['a', lease({ token: 2, retryAt: 900 })]]);
    expect(planAnnouncements(next, new Set(['a']), new Set(['a']), 500)).toEqual({ take: ['a'], give: ['a'], expired: [] });
    expect(planAnnouncements(next, new Set(['a']), new Set(), 500)).toEqual({ take: [], give: [], expired: [] });
  });
});

describe('watchOutcome', () => {
  it('tells a release from a lapse and from a lease nobody announced', () => {
    expect(watchOutcome(42, 1)).toBe('released');
    expect(watchOutcome(42, 0)).toBe('lapsed');
    expect(watchOutcome(null, 1)).toBe('unannounced');
    expect(watchOutcome(42, null)).toBe('unannounced');
  });
});

describe('notifyLockName', () => {
  it('fits GET_LOCK (64 characters) and tells databases, prefixes and keys apart, whatever the host', () => {
    const name = notifyLockName(notifyScope('mysql://root@127.0.0.1:3306/test', 'fsm_local_lock'), `user:${'x'.repeat(500)}`);
    expect(name.length).toBeLessThanOrEqual(64);
    expect(notifyScope('mysql://root@localhost/test', 'p_')).toBe(notifyScope('mysql://u@127.0.0.1:3306/test', 'p_'));
    const names = new Set(
      [notifyScope('mysql://h/a', 'p_'), notifyScope('mysql://h/b', 'p_'), notifyScope('mysql://h/a', 'q_')].flatMap((s) => [notifyLockName(s, 'k1'), notifyLockName(s, 'k2')]),
    );
    expect(names.size).toBe(6);
  });
});
