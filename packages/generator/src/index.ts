export { CONFIG_FILES, ConfigError, DEFAULT_OUT_DIR, defineConfig, loadConfig, resolveConfig } from './config.js';
export type { ConfigOverrides, FsmConfig, LoadConfigOptions, ResolvedConfig } from './config.js';
export { formatDiagnostic, hasErrors } from './diagnostics.js';
export type { Diagnostic, Severity, SourceLocation } from './diagnostics.js';
export { extract } from './extract.js';
export type {
  DataTypeInfo,
  DataTypeRef,
  ExtractedDecorator,
  ExtractedMachine,
  ExtractedStep,
  Extraction,
  ExtractOptions,
  GenerateProgress,
  JsonSchema,
  LiteralValue,
  UnresolvedBase,
} from './extract.js';
export { buildModels, MODEL_VERSION } from './model.js';
export type { ExtractionProblem, ExtractionProblemCode, MachineEntry } from './model.js';
export { validate } from './validate.js';
export type { DiagnosticCode, ValidateOptions } from './validate.js';
export { defaultTemplatesDir, emit, eventSchema, EVENT_TYPES, INSTANCE_STATUSES, loadTemplates, TEMPLATE_FILES } from './emit/index.js';
export type { EmitMachine, EmitOptions, GeneratedFile, Templates } from './emit/index.js';
export { GENERATED_MARK, headerText, isGenerated } from './header.js';
export { planMigrations, MIGRATIONS_DIR } from './migrations/plan.js';
export type { MigrationPlan, PlanOptions } from './migrations/plan.js';
export { diffSteps } from './migrations/diff.js';
export type { StepDiff } from './migrations/diff.js';
export { SNAPSHOT_DIR } from './migrations/snapshot.js';
export type { MachineSnapshot, StepShape } from './migrations/snapshot.js';
export { writeFiles } from './write.js';
export type { StaleFile, StaleReason, WriteOptions, WriteResult } from './write.js';
export { generate, generateFromConfig } from './generate.js';
export type { GenerateOptions, GenerateResult } from './generate.js';
export { GenerateSession } from './session.js';
export type { RunOptions } from './session.js';
