const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const PLAIN = /^[\w .:/@#-]*$/;
const WIDTH = 100;

/**
 * A value printed on one line (`inline`, or undefined when that line would be wider than the
 * page anyway, so that large values do not build lines that are never used), with its parts
 * kept in case it must be spread over several.
 */
interface Printed {
  inline: string | undefined;
  parts?: { open: string; close: string; items: Array<{ prefix: string; value: Printed }> };
}

/**
 * A JSON value as a TypeScript literal: single quotes, bare keys, objects and arrays on one
 * line when they fit in 100 columns, one entry per line otherwise. The same value always
 * prints the same text.
 */
export function tsLiteral(value: unknown, indent = ''): string {
  return layout(print(value), indent);
}

function print(value: unknown): Printed {
  if (typeof value === 'string') return { inline: quote(value) };
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return { inline: String(value) };
  if (Array.isArray(value)) {
    const items = value.map((v) => ({ prefix: '', value: print(v) }));
    return { inline: line('[', items, ']'), parts: { open: '[', close: ']', items } };
  }
  if (typeof value === 'object') {
    const items = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ({ prefix: `${IDENTIFIER.test(k) ? k : quote(k)}: `, value: print(v) }));
    return { inline: items.length === 0 ? '{}' : line('{ ', items, ' }'), parts: { open: '{', close: '}', items } };
  }
  throw new TypeError(`cannot print ${typeof value} as a literal`);
}

/** The items on one line, or undefined when it would not fit in WIDTH even unindented. */
function line(open: string, items: ReadonlyArray<{ prefix: string; value: Printed }>, close: string): string | undefined {
  let text = open;
  for (const [i, item] of items.entries()) {
    if (item.value.inline === undefined) return undefined;
    text += (i === 0 ? '' : ', ') + item.prefix + item.value.inline;
    if (text.length > WIDTH) return undefined;
  }
  return text + close;
}

function layout(printed: Printed, indent: string): string {
  const { parts, inline } = printed;
  if (inline !== undefined && (!parts || parts.items.length === 0 || inline.length + indent.length <= WIDTH)) return inline;
  const inner = `${indent}  `;
  const lines = parts!.items.map((i) => `${inner}${i.prefix}${layout(i.value, inner)},\n`);
  return `${parts!.open}\n${lines.join('')}${indent}${parts!.close}`;
}

function quote(text: string): string {
  if (PLAIN.test(text)) return `'${text}'`;
  return `'${JSON.stringify(text).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;
}
