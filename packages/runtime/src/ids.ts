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

/** One id is written here as ASCII, then read out as one string: no array, no piecewise concatenation. */
const text = Buffer.alloc(36, '-');
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

function put(at: number, byte: number): void {
  text[at] = HEX_DIGITS[byte >>> 4]!;
  text[at + 1] = HEX_DIGITS[byte & 0x0f]!;
}

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
  put(0, (high >>> 8) & 0xff);
  put(2, high & 0xff);
  put(4, (ms >>> 24) & 0xff);
  put(6, (ms >>> 16) & 0xff);
  put(9, (ms >>> 8) & 0xff);
  put(11, ms & 0xff);
  put(14, 0x70 | ((counter >>> 8) & 0x0f));
  put(16, counter & 0xff);
  put(19, 0x80 | (pool[r]! & 0x3f));
  put(21, pool[r + 1]!);
  put(24, pool[r + 2]!);
  put(26, pool[r + 3]!);
  put(28, pool[r + 4]!);
  put(30, pool[r + 5]!);
  put(32, pool[r + 6]!);
  put(34, pool[r + 7]!);
  return text.toString('latin1');
}

/** Milliseconds since the epoch encoded in a UUIDv7. */
export function uuidv7Time(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
