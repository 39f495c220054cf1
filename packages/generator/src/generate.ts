import { join, relative } from 'node:path';
import { glob } from 'tinyglobby';
import { loadConfig, type ConfigOverrides, type ResolvedConfig } from './config.js';
import { hasErrors, type Diagnostic } from './diagnostics.js';
import { emit, type GeneratedFile } from './emit/index.js';
import { extract } from './extract.js';
import { planMigrations } from './migrations/plan.js';
import { SNAPSHOT_DIR } from './migrations/snapshot.js';
import { buildModels } from './model.js';
import { validate } from './validate.js';
import { writeFiles, type StaleFile } from './write.js';

export interface GenerateOptions extends ConfigOverrides {
  /** Working directory: where the config is looked for. Default `process.cwd()`. */
  cwd?: string;
  /** Config file, relative to cwd. */
  config?: string;
  /** Write nothing; report stale, missing and extra files. */
  check?: boolean;
}

export interface GenerateResult {
  config: ResolvedConfig;
  /** Everything that should be in outDir; empty when there are errors. */
  files: GeneratedFile[];
  diagnostics: Diagnostic[];
  written: string[];
  unchanged: string[];
  removed: string[];
  /** Absolute paths of the migrations this run wrote (in check mode: would write). */
  migrations: string[];
  stale: StaleFile[];
  /** No errors and, in check mode, nothing stale. */
  ok: boolean;
}

/** Loads the config, then runs every stage. Throws only ConfigError; source problems are diagnostics. */
export async function generate(options: GenerateOptions = {}): Promise<GenerateResult> {
  const overrides: ConfigOverrides = {};
  if (options.include) overrides.include = options.include;
  if (options.outDir) overrides.outDir = options.outDir;
  if (options.templates) overrides.templates = options.templates;
  const config = await loadConfig({
    cwd: options.cwd ?? process.cwd(),
    ...(options.config ? { config: options.config } : {}),
    overrides,
  });
  return generateFromConfig(config, { check: options.check ?? false });
}

/**
 * extract -> model -> validate -> emit and plan migrations -> write, for a resolved config.
 * Nothing is written if any error exists.
 */
export async function generateFromConfig(config: ResolvedConfig, options: { check?: boolean } = {}): Promise<GenerateResult> {
  const outDirGlob = relative(config.root, config.outDir).split('\\').join('/');
  const files = await glob(config.include, {
    cwd: config.root,
    absolute: true,
    ignore: [...config.exclude, '**/node_modules/**', ...(outDirGlob && !outDirGlob.startsWith('..') ? [`${outDirGlob}/**`] : [])],
  });
  const entries = buildModels(extract({ files, ...(config.tsconfig ? { tsconfig: config.tsconfig } : {}) }));
  const diagnostics = validate(entries, { root: config.root });
  const result: GenerateResult = {
    config,
    files: [],
    diagnostics,
    written: [],
    unchanged: [],
    removed: [],
    migrations: [],
    stale: [],
    ok: false,
  };
  if (hasErrors(diagnostics)) return result;

  const plan = planMigrations(entries, { outDir: config.outDir, root: config.root, tablePrefix: config.tablePrefix });
  if (plan.diagnostics.length > 0) {
    diagnostics.push(...plan.diagnostics);
    return result;
  }
  const emitted = emit(entries, {
    // Sources are named relative to the output folder, so the same output comes from any config location.
    root: config.outDir,
    outDir: config.outDir,
    tablePrefix: config.tablePrefix,
    ...(config.templates ? { templates: config.templates } : {}),
  });
  result.files = [...emitted, ...plan.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  result.migrations = plan.migrations.map((path) => join(config.outDir, path));
  const written = writeFiles(result.files, { outDir: config.outDir, check: options.check ?? false, sweep: [SNAPSHOT_DIR] });
  Object.assign(result, written);
  result.ok = !options.check || written.stale.length === 0;
  return result;
}
