import { describe, expect, it } from 'vitest';
import { EXIT_OK, EXIT_USAGE, main} from '../src/index.js';
import { recorder } from './support/io.js';

describe('fsm relay usage', () => {
  it('is listed in fsm --help and explains its options', async () => {
    const top = recorder();
    expect(await main(['--help'], top)).toBe(EXIT_OK);
    expect(top.stdout).toMatch(/ {2}relay +publish the events waiting in the MySQL outbox to Kafka/);
    const help = recorder();
    expect(await main(['relay', '--help'], help)).toBe(EXIT_OK);
    for (const option of ['--url', '--table-prefix', '--brokers', '--batch', 'SIGTERM']) expect(help.stdout).toContain(option);
  });

  it.each([
    [['--batch', '0'], '--batch must be a positive integer, got "0"'],
    [['--batch', 'many'], '--batch must be a positive integer, got "many"'],
    [['--brokers', ' , '], '--brokers must name at least one host:port'],
    [['--table-prefix', 'x; DROP'], '--table-prefix: table prefix "x; DROP" must match'],
    [['--frobnicate'], "Unknown option '--frobnicate'"],
  ])('refuses %j with exit 2 before touching any service', async (args, message) => {
    const io = recorder();
    expect(await main(['relay', ...args], io)).toBe(EXIT_USAGE);
    expect(io.stderr).toContain(`fsm relay: ${message}`);
    expect(io.stderr).toContain('Usage: fsm relay');
  });
});
