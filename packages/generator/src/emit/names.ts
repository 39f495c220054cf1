import { relative, sep } from 'node:path';

/** `order_fulfilment` -> `OrderFulfilment`. Machine names are already snake_case after validation. */
export function pascalCase(name: string): string {
  return name
    .split(/[_\W]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}

/** `order_fulfilment` -> `orderFulfilment`. */
export function camelCase(name: string): string {
  const pascal = pascalCase(name);
  return pascal[0]!.toLowerCase() + pascal.slice(1);
}

const displayed = new Map<string, string>();

/** A path relative to `root`, with forward slashes: how generated files name their sources. */
export function displayPath(root: string, file: string): string {
  // Each machine's files name its source four times, and path.relative is not cheap.
  const key = `${root}\0${file}`;
  let path = displayed.get(key);
  if (path === undefined) {
    if (displayed.size > 10_000) displayed.clear();
    displayed.set(key, (path = relative(root, file).split(sep).join('/')));
  }
  return path;
}

/**
 * The specifier a file in `fromDir` uses to import `file` under NodeNext: relative, with the
 * extension the compiled file will have (`.ts` -> `.js`, `.mts` -> `.mjs`).
 */
export function importSpecifier(fromDir: string, file: string): string {
  const path = displayPath(fromDir, file)
    .replace(/\.d\.([cm]?)ts$/, '.$1js')
    .replace(/\.([cm]?)tsx?$/, '.$1js');
  return path.startsWith('.') ? path : `./${path}`;
}
