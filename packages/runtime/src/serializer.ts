import superjson from 'superjson';
import { FsmError } from './errors.js';
import { findUnstorable, unstorableError } from './json-safe.js';

/**
 * Turns instance data into a string for storage and back. Async, so an implementation may
 * encrypt or compress. The default keeps Date, BigInt, Map, Set, undefined and RegExp.
 */
export interface Serializer {
  stringify(value: unknown): Promise<string> | string;
  parse(text: string): Promise<unknown> | unknown;
}

/**
 * True when JSON.stringify keeps the value exactly: no Date, BigInt, Map, Set, undefined,
 * NaN, -0, class instance, function, symbol or cycle (past 64 levels) anywhere in it.
 */
function isPlainJson(value: unknown, depth = 0): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    case 'object': {
      if (depth > 64) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isPlainJson(value[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return false;
      // JSON drops symbol keys silently: such data is not plain.
      if (Object.getOwnPropertySymbols(value).length > 0) return false;
      for (const k in value) if (!isPlainJson((value as Record<string, unknown>)[k], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

/**
 * `{"json":...}` as one flat string: a template would make a string of three pieces, and
 * history keeps one such text per step. JSON.stringify itself returns a rope (a string of
 * pieces) past 32 characters; `localeCompare` is the cheap call that makes V8 flatten it in
 * place, so what is kept is one string, not three objects.
 */
function plainText(value: unknown): string {
  const text = JSON.stringify({ json: value });
  text.localeCompare('');
  return text;
}

/**
 * superjson's format. Plain JSON data, the common case, skips superjson's walker: the output
 * `{"json":...}` is exactly what superjson writes for such data, so either side reads the other.
 */
export const superjsonSerializer: Serializer = {
  stringify: (value) => (isPlainJson(value) ? plainText(value) : superjson.stringify(value)),
  parse: (text) => superjson.parse(text),
};

/** Plain JSON: faster, but Dates come back as strings and BigInt fails. */
export const jsonSerializer: Serializer = {
  stringify: (value) => JSON.stringify(value),
  parse: (text) => JSON.parse(text) as unknown,
};

/**
 * The data as the serializer writes it. Data that no serializer keeps faithfully (a function, a
 * symbol, a circular reference) is refused first with FSM_SERIALIZE naming its path, so what is
 * stored is always what the handlers saw.
 */
export async function serialize(serializer: Serializer, value: unknown, context: Record<string, unknown>): Promise<string> {
  return serializeNow(serializer, value, context);
}

/**
 * `serialize`, except that the common case (plain JSON data, the default serializer) returns
 * the text at once instead of a promise.
 */
export function serializeNow(serializer: Serializer, value: unknown, context: Record<string, unknown>): string | Promise<string> {
  // Plain JSON holds no function, symbol or cycle: one walk decides, and the default writes it at once.
  const plain = isPlainJson(value);
  if (plain && serializer === superjsonSerializer) return plainText(value);
  return serializeChecked(serializer, value, context, plain);
}

async function serializeChecked(serializer: Serializer, value: unknown, context: Record<string, unknown>, plain: boolean): Promise<string> {
  if (!plain) {
    const found = findUnstorable(value);
    if (found) throw unstorableError(found, context);
  }
  try {
    return await serializer.stringify(value);
  } catch (cause) {
    throw new FsmError('FSM_SERIALIZE', `could not serialize the data of ${describe(context)}: ${message(cause)}`, {
      cause,
      context,
    });
  }
}

export async function deserialize(serializer: Serializer, text: string, context: Record<string, unknown>): Promise<unknown> {
  return deserializeNow(serializer, text, context);
}

/** `deserialize`, except that a serializer that parses at once (the default) gives the data at once, not a promise. */
export function deserializeNow(serializer: Serializer, text: string, context: Record<string, unknown>): unknown {
  let value: unknown;
  try {
    value = serializer.parse(text);
  } catch (cause) {
    throw unreadable(cause, context);
  }
  if (typeof (value as { then?: unknown } | null)?.then !== 'function') return value;
  return Promise.resolve(value).catch((cause: unknown) => Promise.reject(unreadable(cause, context)));
}

function unreadable(cause: unknown, context: Record<string, unknown>): FsmError {
  return new FsmError(
    'FSM_DESERIALIZE',
    `stored data of ${describe(context)} cannot be read: ${message(cause)}. Other instances are unaffected; repair or delete this row.`,
    { cause, context },
  );
}

function describe(context: Record<string, unknown>): string {
  return `${String(context['machine'] ?? 'machine')} instance ${String(context['id'] ?? '?')}`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
