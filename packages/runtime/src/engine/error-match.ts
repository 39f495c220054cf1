import { ANY_ERROR, type ErrorMatcher } from '@fsmkit/decorators';

/**
 * True when `error` matches one of `matchers`: `'*'`, its `code` (FsmError codes and any error
 * that carries a string code), its `name`, or the name of its class or of a class it extends.
 */
export function errorMatches(error: unknown, matchers: readonly ErrorMatcher[]): boolean {
  if (matchers.includes(ANY_ERROR)) return true;
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && matchers.includes(code)) return true;
  const name = (error as { name?: unknown }).name;
  if (typeof name === 'string' && matchers.includes(name)) return true;
  for (let proto = Object.getPrototypeOf(error) as object | null; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    const ctor = (proto as { constructor?: { name?: unknown } }).constructor;
    if (typeof ctor?.name === 'string' && matchers.includes(ctor.name)) return true;
  }
  return false;
}
