import { UsageError } from './command.js';

/**
 * The `--table-prefix` flag as the mysql package's schema options, checked before anything
 * connects: a prefix the package refuses is a usage error.
 */
export async function tablePrefixOption(prefix: string | undefined): Promise<{ tablePrefix?: string }> {
  if (prefix === undefined) return {};
  // Loaded here, not at the top: `fsm --help` should not load the MySQL driver.
  const { sharedTables } = await import('@fsmkit/mysql');
  try {
    sharedTables({ tablePrefix: prefix });
  } catch (error) {
    throw new UsageError(`--table-prefix: ${(error as Error).message}`);
  }
  return { tablePrefix: prefix };
}
