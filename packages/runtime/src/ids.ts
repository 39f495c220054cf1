import { randomFillSync } from 'node:crypto';

/**
 * UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then a 12-bit counter that keeps ids made in
 * the same millisecond in order, then random bits. Ids sort by creation time as strings.
 */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
let lastMs = 0;
let counter = 0;

/** Where `n` random bytes may be read from `pool` now. */
function randomAt(n: number): number {
  if (poolOffset + n > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += n;
  return at;
}

/** Character codes of the hex digits. */
const HEX = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const DASH = 0x2d;
const hi = (byte: number): number => HEX[byte >>> 4]!;
const lo = (byte: number): number => HEX[byte & 0x0f]!;

export function uuidv7(now: number = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    counter = pool[randomAt(1)]! & 0x3f; // random start leaves room to count up
  } else {
    counter++;
    if (counter > 0xfff) {
      // Counter exhausted within one millisecond: borrow the next millisecond.
      lastMs++;
      counter = 0;
    }
  }
  const ms = lastMs;
  const high = Math.floor(ms / 2 ** 32);
  const r = randomAt(8);
  const t0 = (high >>> 8) & 0xff;
  const t1 = high & 0xff;
  const t2 = (ms >>> 24) & 0xff;
  const t3 = (ms >>> 16) & 0xff;
  const t4 = (ms >>> 8) & 0xff;
  const t5 = ms & 0xff;
  const v = 0x70 | ((counter >>> 8) & 0x0f);
  const c = counter & 0xff;
  const r0 = 0x80 | (pool[r]! & 0x3f);
  const r1 = pool[r + 1]!;
  const r2 = pool[r + 2]!;
  const r3 = pool[r + 3]!;
  const r4 = pool[r + 4]!;
  const r5 = pool[r + 5]!;
  const r6 = pool[r + 6]!;
  const r7 = pool[r + 7]!;
  // One call makes the 36 characters as one flat string: cheaper than a Buffer's toString, and
  // no rope of pieces (history keeps one id per step).
  return String.fromCharCode(
    hi(t0), lo(t0), hi(t1), lo(t1), hi(t2), lo(t2), hi(t3), lo(t3), DASH,
    hi(t4), lo(t4), hi(t5), lo(t5), DASH,
    hi(v), lo(v), hi(c), lo(c), DASH,
    hi(r0), lo(r0), hi(r1), lo(r1), DASH,
    hi(r2), lo(r2), hi(r3), lo(r3), hi(r4), lo(r4), hi(r5), lo(r5), hi(r6), lo(r6), hi(r7), lo(r7),
  );
}

/** Milliseconds since the epoch encoded in a UUIDv7. */
export function uuidv7Time(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
