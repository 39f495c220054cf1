import { loadConfig, type ConfigOverrides, type ResolvedConfig } from './config.js';
import { GenerateSession, type GenerateResult, type RunOptions } from './session.js';

export type { GenerateResult } from './session.js';

export interface GenerateOptions extends ConfigOverrides {
  /** Working directory: where the config is looked for. Default `process.cwd()`. */
  cwd?: string;
  /** Config file, relative to cwd. */
  config?: string;
  /** Write nothing; report stale, missing and extra files. */
  check?: boolean;
  onProgress?: RunOptions['onProgress'];
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
  return generateFromConfig(config, { check: options.check ?? false, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
}

/**
 * extract -> model -> validate -> emit and plan migrations -> write, for a resolved config.
 * Nothing is written if any error exists.
 */
export async function generateFromConfig(config: ResolvedConfig, options: RunOptions = {}): Promise<GenerateResult> {
  return new GenerateSession(config).run(options);
}
