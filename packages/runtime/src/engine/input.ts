import type { MachineModel, StandardSchemaV1, TransitionModel } from '@fsmkit/decorators';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { FsmError } from '../errors.js';

export interface InputIssue {
  /** JSON Pointer of the offending value (`''` for the input itself). */
  path: string;
  message: string;
}

/**
 * Validates transition input before the guard runs: with the definition's Standard Schema
 * validator when it has one (zod and the like), else with the model's JSON Schema, compiled
 * once per transition by ajv. Every failing path is reported at once.
 */
export class InputValidator {
  private readonly ajv = new Ajv2020({ allErrors: true, strict: false });
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(
    private readonly model: MachineModel,
    private readonly validators: Readonly<Record<string, StandardSchemaV1>> = {},
  ) {}

  /** The input to hand the transition (a Standard Schema validator may transform it), or FSM_INPUT_INVALID. */
  async check(t: TransitionModel, input: unknown): Promise<unknown> {
    const standard = this.validators[t.name];
    if (standard) {
      const result = await standard['~standard'].validate(input);
      if (result.issues === undefined) return result.value;
      throw this.invalid(
        t,
        result.issues.map((i) => ({ path: pointer(i.path ?? []), message: i.message })),
      );
    }
    if (t.input === undefined) return input;
    let validate = this.compiled.get(t.name);
    if (validate === undefined) {
      validate = this.ajv.compile(t.input);
      this.compiled.set(t.name, validate);
    }
    if (validate(input)) return input;
    throw this.invalid(
      t,
      (validate.errors ?? []).map((e) => ({ path: e.instancePath, message: e.message ?? 'is invalid' })),
    );
  }

  private invalid(t: TransitionModel, issues: InputIssue[]): FsmError {
    const list = issues.map((i) => `${i.path || '(input)'} ${i.message}`).join('; ');
    return new FsmError('FSM_INPUT_INVALID', `input of transition "${t.name}" of ${this.model.name} is invalid: ${list}`, {
      context: { machine: this.model.name, transition: t.name, issues },
    });
  }
}

function pointer(path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>): string {
  return path.map((p) => '/' + String(typeof p === 'object' ? p.key : p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}
