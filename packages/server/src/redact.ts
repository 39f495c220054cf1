export const REDACTED = '[redacted]';

/**
 * Replaces the values at the given paths (`card.number`; through arrays too) with
 * "[redacted]". Takes JSON-safe data and returns a copy; the input is left alone.
 */
export function redact(data: unknown, paths: readonly string[][]): unknown {
  if (paths.length === 0 || data === null || typeof data !== 'object') return data;
  const copy = structuredClone(data);
  for (const path of paths) apply(copy, path, 0);
  return copy;
}

function apply(node: unknown, path: string[], i: number): void {
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const item of node) apply(item, path, i);
    return;
  }
  const obj = node as Record<string, unknown>;
  const key = path[i]!;
  if (!Object.hasOwn(obj, key)) return;
  if (i === path.length - 1) obj[key] = REDACTED;
  else apply(obj[key], path, i + 1);
}

export const parsePaths = (paths: readonly string[] = []): string[][] => paths.map((p) => p.split('.').filter((s) => s.length > 0)).filter((p) => p.length > 0);
