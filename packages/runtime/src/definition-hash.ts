import { createHash } from 'node:crypto';
import type { MachineModel } from '@fsmkit/decorators';

/**
 * Fingerprint of what a running instance depends on: the steps, their order and their back
 * handlers. Options that do not change the path (retry, immediate, topic) are left out, so
 * tuning them does not strand running instances.
 */
export function definitionHash(model: MachineModel): string {
  const shape = model.steps.map((s) => [s.order, s.name, s.method, s.back ?? null]);
  return createHash('sha256').update(JSON.stringify([model.name, shape])).digest('hex').slice(0, 16);
}
