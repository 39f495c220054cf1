import { describe, expect, it } from 'vitest';
import { EXIT_OK, EXIT_USAGE, main } from '../src/index.js';
import { recorder } from './support/io.js';

describe('fsm dead-letters usage', () => {
  it('is listed in fsm --help and explains its actions', async () => {
    const top = recorder();
    expect(await main(['--help'], top)).toBe(EXIT_OK);
    expect(top.stdout).toMatch(/ {2}dead-letters +list the events the broker refused for good/);
    const help = recorder();
    expect(await main(['dead-letters', '--help'], help)).toBe(EXIT_OK);
    for (const option of ['list', 'retry', '--all', '--instance', '--topic', '--event', '--json']) expect(help.stdout).toContain(option);
  });

  it.each([
    [[], 'say list or retry'],
    [['drop'], 'unknown action "drop": say list or retry'],
    [['retry'], 'retry needs --all, or --instance, --topic or --event'],
    [['retry', '--all', '--topic', 't'], 'retry needs --all, or --instance, --topic or --event'],
    [['retry', '--instance', ' , '], '--instance must name at least one value'],
    [['list', '--all'], '--all, --instance, --topic and --event go with retry'],
    [['retry', '--all', '--json'], '--json and --limit go with list'],
    [['list', '--limit', '0'], '--limit must be a positive integer, got "0"'],
    [['list', '--table-prefix', 'x; DROP'], '--table-prefix: table prefix "x; DROP" must match'],
  ])('refuses %j with exit 2 before touching any service', async (args, message) => {
    const io = recorder();
    expect(await main(['dead-letters', ...args], io)).toBe(EXIT_USAGE);
    expect(io.stderr).toContain(`fsm dead-letters: ${message}`);
    expect(io.stderr).toContain('Usage: fsm dead-letters');
  });
});

describe('fsm relay options for refused events and retention', () => {
  it.each([
    [['--max-failures', '0'], '--max-failures must be a positive integer, got "0"'],
    [['--retention=-1'], '--retention must be a number of hours (0 or more) or "forever", got "-1"'],
    [['--retention', 'soon'], '--retention must be a number of hours (0 or more) or "forever", got "soon"'],
  ])('refuses %j with exit 2', async (args, message) => {
    const io = recorder();
    expect(await main(['relay', ...args], io)).toBe(EXIT_USAGE);
    expect(io.stderr).toContain(`fsm relay: ${message}`);
  });
});
