/**
 * Instance data as plain JSON for event payloads: Date -> ISO string, BigInt -> string,
 * Map -> object, Set -> array, undefined dropped. Cycles are cut rather than thrown on.
 */
export function toJsonSafe(value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return typeof value === 'number' && !Number.isFinite(value) ? null : value;
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  const obj = value as object;
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
  if (seen.has(obj)) return undefined;
  seen.add(obj);
  try {
    if (Array.isArray(obj)) return obj.map((v) => toJsonSafe(v, seen) ?? null);
    if (obj instanceof Set) return [...obj].map((v) => toJsonSafe(v, seen) ?? null);
    const out: Record<string, unknown> = {};
    const entries = obj instanceof Map ? [...obj.entries()] : Object.entries(obj);
    for (const [k, v] of entries) {
      const safe = toJsonSafe(v, seen);
      if (safe !== undefined) out[String(k)] = safe;
    }
    return out;
  } finally {
    seen.delete(obj);
  }
}
