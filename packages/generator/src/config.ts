import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tablePrefix } from '@fsmkit/mysql/schema';

/** What `fsm.config.ts` exports. Relative paths are relative to the config file. */
export interface FsmConfig {
  /** Globs of the files that declare machines, e.g. `['src/**\/*.machine.ts']`. */
  include: string[];
  exclude?: string[];
  /** Where generated files go. Default `src/generated`. */
  outDir?: string;
  /** A folder whose templates replace the default ones, file by file. */
  templates?: string;
  /** Prefix of every SQL table. Default `fsm_`. */
  tablePrefix?: string;
  /** A tsconfig whose `paths` help resolve imported data types. */
  tsconfig?: string;
  /** MySQL URL of `fsm migrate`, `worker`, `inspect` and `relay`; `--url` and FSM_MYSQL_URL win over it. */
  url?: string;
  /** The module `fsm worker` runs (it exports machine definitions). Default `<outDir>/index.ts`. */
  runners?: string;
}

/** Types a config file: `export default defineConfig({ include: ['src/**\/*.machine.ts'] })`. */
export function defineConfig(config: FsmConfig): FsmConfig {
  return config;
}

/** Looked for in this order in the working directory. */
export const CONFIG_FILES = ['fsm.config.ts', 'fsm.config.mts', 'fsm.config.mjs', 'fsm.config.js'] as const;

export const DEFAULT_OUT_DIR = 'src/generated';

/** A config that cannot be found, loaded or used. */
export class ConfigError extends Error {
  readonly code = 'FSM_E_CONFIG';
  override readonly name = 'ConfigError';
}

/** A config with defaults applied and every path absolute. */
export interface ResolvedConfig {
  /** Folder of the config file (or the working directory without one): globs and diagnostics are relative to it. */
  root: string;
  configFile?: string;
  include: string[];
  exclude: string[];
  outDir: string;
  templates?: string;
  tablePrefix: string;
  tsconfig?: string;
  url?: string;
  runners?: string;
}

/** Command-line values; they win over the config file. Relative paths are relative to `cwd`. */
export interface ConfigOverrides {
  include?: string[];
  outDir?: string;
  templates?: string;
}

export interface LoadConfigOptions {
  cwd: string;
  /** Explicit config file; otherwise the first of CONFIG_FILES found in cwd. */
  config?: string;
  overrides?: ConfigOverrides;
}

/** Finds, loads (TS without type checking) and resolves the config. */
export async function loadConfig(options: LoadConfigOptions): Promise<ResolvedConfig> {
  const { cwd, overrides = {} } = options;
  const file = options.config ? resolve(cwd, options.config) : CONFIG_FILES.map((f) => resolve(cwd, f)).find((f) => existsSync(f));
  if (options.config && !existsSync(file!)) throw new ConfigError(`config file ${file} does not exist`);
  if (!file && !overrides.include)
    throw new ConfigError(`no ${CONFIG_FILES[0]} in ${cwd}: create one, or pass --config or --include`);
  const raw = file ? await importConfig(file) : {};
  return resolveConfig(raw, { root: file ? dirname(file) : cwd, cwd, ...(file ? { configFile: file } : {}), overrides });
}

async function importConfig(file: string): Promise<unknown> {
  let mod: { default?: unknown };
  try {
    mod = /\.[cm]?tsx?$/.test(extname(file)) ? await importTypeScript(file) : await import(pathToFileURL(file).href);
  } catch (cause) {
    throw new ConfigError(`cannot load ${file}: ${(cause as Error).message}`, { cause });
  }
  let config = mod.default;
  // A config compiled as CommonJS arrives wrapped once more.
  if (isObject(config) && !('include' in config) && isObject(config.default)) config = config.default;
  if (config === undefined) throw new ConfigError(`${file} has no default export: export default defineConfig({ ... })`);
  return config;
}

/**
 * A TS config, without running a type checker. Usually it only imports packages, so it is
 * stripped to JS beside itself (so its imports resolve as written), imported and deleted:
 * a few milliseconds. If that fails (say it imports another .ts file), tsx loads it.
 */
async function importTypeScript(file: string): Promise<{ default?: unknown }> {
  const { tsc } = await import('./extract/ts.js');
  const js = tsc.transpileModule(readFileSync(file, 'utf8'), {
    fileName: file,
    compilerOptions: { module: tsc.ModuleKind.ESNext, target: tsc.ScriptTarget.ES2022, verbatimModuleSyntax: false },
  }).outputText;
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}-${Date.now()}.mjs`);
  try {
    writeFileSync(temp, js);
    return (await import(pathToFileURL(temp).href)) as { default?: unknown };
  } catch {
    const { tsImport } = await import('tsx/esm/api');
    return (await tsImport(pathToFileURL(file).href, import.meta.url)) as { default?: unknown };
  } finally {
    rmSync(temp, { force: true });
  }
}

/** Checks a config value and applies defaults; every problem is a ConfigError naming the field. */
export function resolveConfig(
  raw: unknown,
  context: { root: string; cwd: string; configFile?: string; overrides?: ConfigOverrides },
): ResolvedConfig {
  const where = context.configFile ?? 'config';
  if (!isObject(raw)) throw new ConfigError(`${where}: the config must be an object`);
  const { root, cwd, overrides = {} } = context;
  const strings = (key: string, value: unknown): string[] | undefined => {
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === ''))
      throw new ConfigError(`${where}: ${key} must be an array of glob strings`);
    return value as string[];
  };
  const string = (key: string, value: unknown): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') throw new ConfigError(`${where}: ${key} must be a non-empty string`);
    return value;
  };

  // Globs from the command line are written relative to cwd; globbing runs from the root.
  const include = overrides.include?.map((g) => toPosix(relative(root, resolve(cwd, g)))) ?? strings('include', raw.include);
  if (!include || include.length === 0) throw new ConfigError(`${where}: include must list at least one glob`);
  const exclude = strings('exclude', raw.exclude) ?? [];
  const outDir = overrides.outDir ? resolve(cwd, overrides.outDir) : resolve(root, string('outDir', raw.outDir) ?? DEFAULT_OUT_DIR);
  const templatesValue = overrides.templates ? resolve(cwd, overrides.templates) : string('templates', raw.templates);
  const templates = templatesValue === undefined ? undefined : resolve(root, templatesValue);
  if (templates !== undefined && !(existsSync(templates) && statSync(templates).isDirectory()))
    throw new ConfigError(`${where}: templates folder ${templates} does not exist`);
  const tsconfigValue = string('tsconfig', raw.tsconfig);
  const tsconfig = tsconfigValue === undefined ? undefined : resolve(root, tsconfigValue);
  if (tsconfig !== undefined && !existsSync(tsconfig)) throw new ConfigError(`${where}: tsconfig ${tsconfig} does not exist`);
  let prefix: string;
  try {
    prefix = tablePrefix({ tablePrefix: string('tablePrefix', raw.tablePrefix) });
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    throw new ConfigError(`${where}: ${(cause as Error).message}`, { cause });
  }

  const url = string('url', raw.url);
  const runnersValue = string('runners', raw.runners);

  const resolved: ResolvedConfig = { root, include, exclude, outDir, tablePrefix: prefix };
  if (url !== undefined) resolved.url = url;
  if (runnersValue !== undefined) resolved.runners = resolve(root, runnersValue);
  if (context.configFile) resolved.configFile = context.configFile;
  if (templates) resolved.templates = templates;
  if (tsconfig) resolved.tsconfig = tsconfig;
  return resolved;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toPosix(path: string): string {
  return isAbsolute(path) ? path : path.split('\\').join('/');
}
