import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '@fsmkit/generator';
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const formats = {
  uuid: UUID,
  'date-time': (text: string) => DATE_TIME.test(text) && !Number.isNaN(Date.parse(text)),
};

/** What `fsm generate` writes for the parcel fixture, compiled for checking what reaches Kafka. */
export interface ParcelArtefacts {
  /** `parcel.events.schema.json` (JSON Schema 2020-12). */
  eventSchema: Record<string, unknown>;
  asyncapi: {
    channels: Record<string, { address: string }>;
    components: { messages: Record<string, { headers: Record<string, unknown>; payload: { schema: { $ref: string } } }> };
  };
  /** Validates an event value against the generated schema, formats included. */
  validateEvent: ValidateFunction;
  /** Validates a message's headers against the AsyncAPI document's message headers. */
  validateHeaders: ValidateFunction;
}

/**
 * Runs the generator on test/fixtures/parcel.machine.ts into a temporary folder and loads the
 * event schema and AsyncAPI document it wrote: the tests check events against what users get.
 */
export async function generatedArtefacts(): Promise<ParcelArtefacts> {
  const out = mkdtempSync(join(tmpdir(), 'fsmkit-kafka-gen-'));
  try {
    const result = await generate({ cwd: fixtures, include: ['parcel.machine.ts'], outDir: out });
    if (!result.ok) throw new Error(`generate failed: ${JSON.stringify(result.diagnostics)}`);
    const read = (name: string) => JSON.parse(readFileSync(join(out, name), 'utf8')) as Record<string, unknown>;
    const eventSchema = read('parcel.events.schema.json');
    const asyncapi = read('asyncapi.json') as unknown as ParcelArtefacts['asyncapi'];
    const message = asyncapi.components.messages['parcelEvent'];
    if (!message) throw new Error('asyncapi.json has no parcelEvent message');
    return {
      eventSchema,
      asyncapi,
      validateEvent: new Ajv2020({ strict: true, formats }).compile(eventSchema),
      // Message headers are an AsyncAPI (draft-07 based) schema.
      validateHeaders: new Ajv({ strict: true, formats }).compile(message.headers),
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
