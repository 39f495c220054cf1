import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MachineDefinition } from '@fsmkit/runtime';

/** A machine definition as generated runners export it (`xxxDefinition`); the runner checks the rest. */
export function isDefinition(value: unknown): value is MachineDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const { model, create } = value as Partial<MachineDefinition>;
  return typeof create === 'function' && typeof model === 'object' && model !== null && typeof model.name === 'string' && Array.isArray(model.steps);
}

/**
 * The machine definitions a runners module exports, by name. The module is imported into this
 * process's module graph, so it shares @fsmkit/runtime with the caller.
 */
export async function loadDefinitions(module: string, cwd: string): Promise<Map<string, MachineDefinition>> {
  const exported = await importModule(isAbsolute(module) ? module : resolve(cwd, module));
  const byName = new Map<string, MachineDefinition>();
  for (const value of Object.values(exported)) if (isDefinition(value)) byName.set(value.model.name, value);
  return byName;
}

let tsxRegistered = false;

/**
 * Plain Node cannot load .ts, so tsx is registered before the first import of a TypeScript
 * file: registering after a failed import is too late, as Node caches the failure.
 */
async function importModule(file: string): Promise<Record<string, unknown>> {
  if (/\.[cm]?tsx?$/.test(file) && !tsxRegistered) {
    const { register } = await import('tsx/esm/api');
    register();
    tsxRegistered = true;
  }
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}
