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
 * process's module graph, so it shares @fsmkit/runtime with the caller; .ts is loaded with tsx.
 */
export async function loadDefinitions(module: string, cwd: string): Promise<Map<string, MachineDefinition>> {
  const url = pathToFileURL(isAbsolute(module) ? module : resolve(cwd, module)).href;
  let exported: Record<string, unknown>;
  try {
    exported = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw error;
    const { register } = await import('tsx/esm/api');
    register();
    exported = (await import(url)) as Record<string, unknown>;
  }
  const byName = new Map<string, MachineDefinition>();
  for (const value of Object.values(exported)) if (isDefinition(value)) byName.set(value.model.name, value);
  return byName;
}
