import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

const testDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
const running = new Set<ChildProcess>();

/** SIGKILLs every process `startTestProcess` started that is still running (for `afterEach`). */
export function killTestProcesses(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/**
 * `test/processes/<script>` in a process of its own, from the sources, given `config` as JSON;
 * it prints JSON lines (`event` and more) and reads commands from its stdin, one a line.
 */
export function startTestProcess<Line extends { event: string }>(script: string, config: unknown) {
  const child = spawn(process.execPath, ['--conditions=source', '--import', tsx, join(testDir, 'processes', script), JSON.stringify(config)], {
    cwd: join(testDir, '..'),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: Line[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as Line);
    } catch {
      // not a line of ours
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => (running.delete(child), resolve())));
  return {
    child,
    exited,
    send: (command: string) => child.stdin!.write(`${command}\n`),
    /** The `nth` line (from 1) of `event`; fails when the process ends or `ms` pass first. */
    async waitFor(event: string, nth = 1, ms = 60_000): Promise<Line> {
      const deadline = Date.now() + ms;
      for (;;) {
        const line = lines.filter((l) => l.event === event)[nth - 1];
        if (line) return line;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${event} line ${nth} from process ${child.pid}; stderr:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}
