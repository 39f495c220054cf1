import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError, type Io } from './command.js';

/** The flags every database command shares; each overrides its value from the config file. */
export const SETTINGS_FLAGS = {
  config: { type: 'string', short: 'c' },
  url: { type: 'string' },
  'table-prefix': { type: 'string' },
} as const;

export interface SettingsFlags {
  config?: string;
  url?: string;
  'table-prefix'?: string;
}

/** What the commands take from the config file, after the flags had their say. */
export interface Settings {
  /** Validated; the flag, else the config's `tablePrefix`, else `fsm_`. */
  tablePrefix: string;
  /** The flag, else FSM_MYSQL_URL, else the config's `url`, else mysql://root@127.0.0.1:3306/test. */
  url: string;
  /** Folder of the generated files: the config's `outDir`; undefined without a config. */
  outDir?: string;
  /** The module `fsm worker` runs: the config's `runners`, else `<outDir>/index.ts`. */
  runners?: string;
  configFile?: string;
}

/**
 * Reads the config file, the same way for every command: `--config <file>`, else the first of
 * fsm.config.ts, .mts, .mjs, .js in the working directory, else none (defaults only). A config
 * that cannot be loaded, or a bad prefix, is a UsageError naming the file or the flag.
 */
export async function readSettings(values: SettingsFlags, io: Io): Promise<Settings> {
  const [{ CONFIG_FILES, ConfigError, loadConfig }, { DEFAULT_TABLE_PREFIX, tablePrefix }] = await Promise.all([
    import('@fsmkit/generator/config'),
    import('@fsmkit/mysql/schema'),
  ]);
  const settings: Partial<Settings> = {};
  const hasConfig = values.config !== undefined || CONFIG_FILES.some((f) => existsSync(resolve(io.cwd, f)));
  let configUrl: string | undefined;
  let configPrefix: string | undefined;
  if (hasConfig) {
    try {
      const config = await loadConfig({ cwd: io.cwd, ...(values.config === undefined ? {} : { config: values.config }) });
      settings.outDir = config.outDir;
      settings.runners = config.runners ?? join(config.outDir, 'index.ts');
      if (config.configFile !== undefined) settings.configFile = config.configFile;
      configUrl = config.url;
      configPrefix = config.tablePrefix;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      throw new UsageError(error.message);
    }
  }
  const prefix = values['table-prefix'] ?? configPrefix ?? DEFAULT_TABLE_PREFIX;
  try {
    tablePrefix({ tablePrefix: prefix });
  } catch (error) {
    throw new UsageError(`${values['table-prefix'] === undefined ? 'tablePrefix' : '--table-prefix'}: ${(error as Error).message}`);
  }
  const envUrl = process.env['FSM_MYSQL_URL'] || undefined;
  return { ...settings, tablePrefix: prefix, url: values.url ?? envUrl ?? configUrl ?? 'mysql://root@127.0.0.1:3306/test' };
}
