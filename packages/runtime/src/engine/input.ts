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
  /** Made when a schema is first compiled: most runners never check one, and making it costs about a millisecond. */
  private ajvInstance: Ajv2020 | undefined;
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly messages = new Map<string, ValidateFunction | null>();

  constructor(
    private readonly model: MachineModel,
    private readonly validators: Readonly<Record<string, StandardSchemaV1>> = {},
  ) {}

  private get ajv(): Ajv2020 {
    return (this.ajvInstance ??= new Ajv2020({ allErrors: true, strict: false }));
  }

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

  /**
   * A message's payload, checked against the schema a step's `waitFor` declares for it (the
   * generator derives it from the payload type), compiled once; FSM_INPUT_INVALID when it does
   * not match or is not JSON. A message no step declares a schema for is only checked for JSON.
   */
  async checkMessage(name: string, payload: unknown): Promise<unknown> {
    let validate = this.messages.get(name);
    if (validate === undefined) {
      const schema = this.model.steps.map((s) => s.wait).find((w) => w?.kind === 'message' && w.message === name && w.payload !== undefined);
      validate = schema?.kind === 'message' && schema.payload ? this.ajv.compile(schema.payload) : null;
      this.messages.set(name, validate);
    }
    const fail = (issues: InputIssue[]) => {
      const list = issues.map((i) => `${i.path || '(payload)'} ${i.message}`).join('; ');
      return new FsmError('FSM_INPUT_INVALID', `payload of message "${name}" for ${this.model.name} is invalid: ${list}`, {
        context: { machine: this.model.name, message: name, issues },
      });
    };
    if (!isJson(payload)) throw fail([{ path: '', message: 'is not plain JSON (objects, arrays, strings, finite numbers, booleans, null)' }]);
    if (validate === null || validate(payload)) return payload;
    throw fail((validate.errors ?? []).map((e) => ({ path: e.instancePath, message: e.message ?? 'is invalid' })));
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

/** Plain JSON all the way down: what a stored message payload may be. */
function isJson(value: unknown, depth = 0): boolean {
  if (depth > 100) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) return Object.values(value).every((v) => isJson(v, depth + 1));
  return false;
}
