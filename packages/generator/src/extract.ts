import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ts } from 'ts-morph';
import { tsc } from './extract/ts.js';
import { ConfigError } from './config.js';
import { BaseResolver, type TypeInFile } from './extract/bases.js';
import { scanMachines } from './extract/classes.js';
import { dataTypeRef } from './extract/data-type.js';
import { scopeOf } from './extract/file-scope.js';
import { locate } from './extract/literals.js';
import { SchemaCollector } from './extract/data-schema.js';
import { parse } from './extract/parse.js';
import type { DataTypeInfo, Extraction, ExtractedMachine, ExtractedStep, ExtractedTransition, GenerateProgress, JsonSchema } from './extract/types.js';

export type { LiteralValue } from './extract/literals.js';
export type * from './extract/types.js';

export interface ExtractOptions {
  /** Absolute paths of the files to read. */
  files: readonly string[];
  /** A tsconfig whose compiler options (paths, baseUrl) help resolve imported data types. */
  tsconfig?: string;
  /** Called after each file read and each data type derived. */
  onProgress?: (progress: GenerateProgress) => void;
}

/**
 * Reads machine classes from source without running them. Files are parsed with ts-morph's
 * compiler API directly (a ts-morph Project wrapper costs about as much again as the parse
 * itself); the type checker is used for data types alone (see SchemaCollector), so it stays
 * cheap on a thousand files.
 */
export function extract(options: ExtractOptions): Extraction {
  const files = [...new Set(options.files)].sort();
  const imports = new Map<string, Set<string>>();
  const schemas = new SchemaCollector(options.tsconfig ? tsconfigOptions(options.tsconfig) : {}, imports);
  // Base classes may live in files outside `files`; each is parsed once, when first extended.
  const bases = new BaseResolver(imports);
  const pending: Array<{
    machine: Omit<ExtractedMachine, 'data' | 'transitions'>;
    transitions: Array<{ transition: Omit<ExtractedTransition, 'input'>; schema?: number }>;
    payloads: Array<{ method: string; schema: number }>;
    data: Omit<DataTypeInfo, 'schema'>;
    schema?: number;
  }> = [];
  const { onProgress } = options;
  for (const [i, file] of files.entries()) {
    onProgress?.({ stage: 'read', done: i, total: files.length });
    const text = readFileSync(file, 'utf8');
    // No `Machine` and no fsmkit import: no machine can be declared here, so skip the parse.
    if (!text.includes('Machine') && !text.includes('@fsmkit/')) continue;
    const scope = scopeOf(parse(file, text));
    // Everything needed from the tree is taken now, so it can be collected before the next file.
    for (const { dataTypes, transitions: scanned, payloads: typed, ...machine } of scanMachines(scope, bases)) {
      const transitions = scanned.map(({ transition, input }) =>
        input ? { transition, schema: schemas.add(input.scope.sourceFile, input.node) } : { transition },
      );
      const payloads = typed.map(({ method, type }) => ({ method, schema: schemas.add(type.scope.sourceFile, type.node) }));
      const first = dataTypes[0];
      if (!first) {
        pending.push({ machine, transitions, payloads, data: { ref: { kind: 'unknown', reason: 'none' }, conflicts: [] } });
        continue;
      }
      const written = normalized(first);
      pending.push({
        machine,
        transitions,
        payloads,
        data: {
          ref: dataTypeRef(first.node, first.scope),
          loc: locate(first.node, first.scope.sourceFile),
          conflicts: dataTypes.filter((t) => normalized(t) !== written).map((t) => locate(t.node, t.scope.sourceFile)),
        },
        schema: schemas.add(first.scope.sourceFile, first.node),
      });
    }
  }
  const derived = schemas.derive(onProgress && ((done, total) => onProgress({ stage: 'types', done, total })));
  const machines = pending.map(({ machine, transitions, payloads, data, schema }) => ({
    ...machine,
    steps: payloads.length === 0 ? machine.steps : machine.steps.map((step) => withPayload(step, payloads, derived)),
    transitions: transitions.map(({ transition, schema: input }) =>
      input === undefined ? transition : { ...transition, input: derived[input]! },
    ),
    data: { ...data, schema: schema === undefined ? {} : derived[schema]! },
  }));
  return { machines, files, imports: new Map([...imports].map(([file, targets]) => [file, [...targets].sort()])) };
}

/** A step with the schema of its `@Step<Payload>` type argument, when it has one. */
function withPayload(step: ExtractedStep, payloads: Array<{ method: string; schema: number }>, derived: JsonSchema[]): ExtractedStep {
  const typed = payloads.find((p) => p.method === step.method);
  return typed === undefined ? step : { ...step, payload: derived[typed.schema]! };
}

/** The type as written, without whitespace: steps agree on the data type when these are equal. */
function normalized({ node, scope }: TypeInFile): string {
  return node.getText(scope.sourceFile).replace(/\s+/g, '');
}

/** Compiler options of a tsconfig (its `paths` and `baseUrl` matter here). */
function tsconfigOptions(tsconfig: string): ts.CompilerOptions {
  const read = tsc.readConfigFile(tsconfig, tsc.sys.readFile);
  if (read.error) throw new ConfigError(`tsconfig ${tsconfig}: ${tsc.flattenDiagnosticMessageText(read.error.messageText, '\n')}`);
  // Only the options are wanted: an empty directory listing skips matching the project's files.
  const host = { ...tsc.sys, readDirectory: () => [] };
  return tsc.parseJsonConfigFileContent(read.config, host, dirname(tsconfig)).options;
}
