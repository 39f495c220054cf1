import { FsmError } from './errors.js';

/** The first part of a value no store can keep faithfully, with its path (`data.items[2].callback`). */
export interface Unstorable {
  path: string;
  what: string;
}

/**
 * Finds the first function, symbol or circular reference in a value. A serializer drops the
 * first two, so the stored instance would differ from the one in memory, and JSON (events, most
 * stores) cannot express a cycle. Shared (non-circular) references are fine. Null when none.
 */
export function findUnstorable(value: unknown, root = 'data'): Unstorable | null {
  return walk(value, root, [], []);
}

function walk(value: unknown, path: string, stack: object[], paths: string[]): Unstorable | null {
  if (typeof value === 'function') return { path, what: 'a function' };
  if (typeof value === 'symbol') return { path, what: 'a symbol' };
  if (typeof value !== 'object' || value === null) return null;
  const ancestor = stack.indexOf(value);
  if (ancestor !== -1) return { path, what: `a circular reference to ${paths[ancestor]}` };
  stack.push(value);
  paths.push(path);
  const at = (child: unknown, childPath: string) => walk(child, childPath, stack, paths);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const found = at(value[i], `${path}[${i}]`);
        if (found) return found;
      }
      return null;
    }
    if (value instanceof Map) {
      let i = 0;
      for (const [k, v] of value) {
        const found = at(k, `${path}.keys()[${i}]`) ?? at(v, `${path}.values()[${i}]`);
        if (found) return found;
        i++;
      }
      return null;
    }
    if (value instanceof Set) {
      let i = 0;
      for (const v of value) {
        const found = at(v, `${path}.values()[${i++}]`);
        if (found) return found;
      }
      return null;
    }
    for (const key of Object.getOwnPropertySymbols(value)) {
      if (Object.prototype.propertyIsEnumerable.call(value, key)) return { path: `${path}[${String(key)}]`, what: 'a symbol-keyed property' };
    }
    for (const [k, v] of Object.entries(value)) {
      const found = at(v, /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`);
      if (found) return found;
    }
    return null;
  } finally {
    stack.pop();
    paths.pop();
  }
}

/** An FSM_SERIALIZE error for data that cannot be stored or published as it is. */
export function unstorableError(found: Unstorable, context: Record<string, unknown>): FsmError {
  const of = context['machine'] === undefined ? '' : ` of ${String(context['machine'])} instance ${String(context['id'] ?? '?')}`;
  return new FsmError(
    'FSM_SERIALIZE',
    `the data${of} cannot be stored faithfully: ${found.path} is ${found.what}. Keep only data in it (no functions, symbols or cycles); nothing was written.`,
    { context: { ...context, path: found.path } },
  );
}

/**
 * Instance data as plain JSON for event payloads: Date -> ISO string, BigInt -> string,
 * Map -> object, Set -> array, undefined dropped. A function, a symbol or a cycle is refused
 * with FSM_SERIALIZE naming its path, rather than left out of the event without a word.
 */
export function toJsonSafe(value: unknown): unknown {
  const found = findUnstorable(value);
  if (found) throw unstorableError(found, {});
  return plain(value);
}

function plain(value: unknown): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return typeof value === 'number' && !Number.isFinite(value) ? null : value;
    case 'bigint':
      return value.toString();
    case 'undefined':
      return undefined;
  }
  const obj = value as object;
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
  if (Array.isArray(obj)) return obj.map((v) => plain(v) ?? null);
  if (obj instanceof Set) return [...obj].map((v) => plain(v) ?? null);
  const out: Record<string, unknown> = {};
  const entries = obj instanceof Map ? [...obj.entries()] : Object.entries(obj);
  for (const [k, v] of entries) {
    const safe = plain(v);
    if (safe !== undefined) out[String(k)] = safe;
  }
  return out;
}
