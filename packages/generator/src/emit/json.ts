import { headerText } from '../header.js';

/**
 * JSON text of a generated document: the header in a leading `$comment` (or `headerKey`, for
 * formats that allow no such property), two-space indent, a final newline. Key order is the
 * order the emitters build objects in, which is fixed.
 */
export function jsonDocument(body: Record<string, unknown>, source?: string, headerKey = '$comment'): string {
  return `${JSON.stringify({ [headerKey]: headerText(source), ...body }, null, 2)}\n`;
}

/**
 * Documents over every machine (model.json, asyncapi.json) are made of one part per machine.
 * Each part's text is made once per machine (see `memoPerMachine`) and spliced into the
 * document where `body` holds a placeholder, so that a watch that changed one machine does not
 * stringify the thousand others again. The text is the same as stringifying the whole.
 */
export function spliceJson(document: string, parts: ReadonlyMap<string, string>): string {
  let text = document;
  // A function, not a string, as replacement: a part may contain `$&` and the like.
  for (const [placeholder, part] of parts) text = text.replace(JSON.stringify(placeholder), () => part);
  return text;
}

/** The JSON text of `value` as it appears `depth` levels down in a document indented by two. */
export function nestedJson(value: unknown, depth: number): string {
  // split/join, not replaceAll: V8 makes replaceAll's result as a chain of pieces, which is
  // slow to make and slower still to copy into the document at every run (10x, measured).
  return JSON.stringify(value, null, 2).split('\n').join(`\n${'  '.repeat(depth)}`);
}

/** An array `depth` levels down whose elements are given as `nestedJson(element, depth + 1)`. */
export function arrayJson(elements: readonly string[], depth: number): string {
  if (elements.length === 0) return '[]';
  const pad = '  '.repeat(depth + 1);
  return `[\n${pad}${elements.join(`,\n${pad}`)}\n${'  '.repeat(depth)}]`;
}

/** An object `depth` levels down whose members are given as `"key": nestedJson(value, depth + 1)`. */
export function objectJson(members: readonly string[], depth: number): string {
  if (members.length === 0) return '{}';
  const pad = '  '.repeat(depth + 1);
  return `{\n${pad}${members.join(`,\n${pad}`)}\n${'  '.repeat(depth)}}`;
}

/**
 * `make(machine, key)`, remembered per machine object and `key` (what else the value depends
 * on, such as the folder paths are relative to): a watch replaces the objects of the machines
 * that changed, and only those are made again.
 */
export function memoPerMachine<M extends object, T>(make: (machine: M, key: string) => T): (machine: M, key?: string) => T {
  const memo = new WeakMap<M, { key: string; value: T }>();
  return (machine, key = '') => {
    const hit = memo.get(machine);
    if (hit && hit.key === key) return hit.value;
    const value = make(machine, key);
    memo.set(machine, { key, value });
    return value;
  };
}
