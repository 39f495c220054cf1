import { existsSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { GenerateSession, type GenerateResult, type ResolvedConfig } from '@fsmkit/generator';
import { EXIT_OK, type Io } from '../command.js';
import { progressLine } from '../progress.js';
import { stopped } from '../stopped.js';
import { reportRun } from './generate-report.js';

/** Events closer together than this make one run: an editor's save, a checkout, a formatter. */
const DEBOUNCE_MS = 20;

/** Files a change of which can reach a machine; other files in the folder are ignored. */
const SOURCE = /\.[cm]?tsx?$/;

export interface WatchOptions {
  config: ResolvedConfig;
  /** Loads the config again, when its file changes. */
  load: () => Promise<ResolvedConfig>;
  io: Io;
  stop?: AbortSignal;
  /** Hears of every run, after its output is printed; `undefined` for a run that failed outright. */
  onRun?: (result: GenerateResult | undefined) => void;
}

/**
 * `fsm generate --watch`: a full run, then, for each burst of changes under the config's folder,
 * an update that reads again only what the changes reach (GenerateSession). Output is a normal
 * run's each time. A change to the config, its tsconfig or the templates starts over with a
 * full run. Runs one at a time; changes that arrive during a run make the next one.
 */
export async function watchGenerate(options: WatchOptions): Promise<number> {
  const { io, load, onRun } = options;
  let config = options.config;
  let session = new GenerateSession(config);
  let restart = false;

  const progress = progressLine(io.terminal);
  const first = await session.run({ onProgress: progress.update });
  progress.done();
  reportRun(first, io);
  onRun?.(first);

  const settings = () => new Set([config.configFile, config.tsconfig].filter((f): f is string => f !== undefined));
  let special = settings();
  const watchers = new Watchers((path) => changed(path), (error) => io.err(`fsm generate: watching: ${error.message}\n`));
  const watchAll = () => {
    for (const base of includeBases(config)) watchers.add(base, true);
    if (config.templates) watchers.add(config.templates, true);
    for (const file of [...special, ...session.dependencies()]) watchers.add(dirname(file), false);
  };
  watchAll();

  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const flush = () => {
    timer = undefined;
    if (running || pending.size === 0) return;
    const paths = pending;
    pending = new Set();
    running = runOnce(paths).finally(() => {
      running = undefined;
      if (pending.size > 0) timer ??= setTimeout(flush, DEBOUNCE_MS);
    });
  };
  const runOnce = async (paths: Set<string>) => {
    let result: GenerateResult | undefined;
    try {
      if ([...paths].some((p) => special.has(p) || inside(config.templates, p))) {
        config = await load();
        special = settings();
        restart = true;
      }
      if (restart) {
        session = new GenerateSession(config);
        result = await session.run();
        restart = false;
      } else result = await session.update(paths);
      reportRun(result, io, { update: true });
      // Files a machine has come to import may lie outside the folders watched so far.
      watchAll();
    } catch (error) {
      // A config that no longer loads, a file gone between listing and reading: say so, keep
      // watching, and start over with a full run on the next change.
      io.err(`fsm generate: ${(error as Error).message}\n`);
      restart = true;
    }
    onRun?.(result);
  };
  const changed = (path: string) => {
    const abs = resolve(path);
    if (special.has(abs) || inside(config.templates, abs)) pending.add(abs);
    // A folder (or a path gone, which may have been one) can hold machine files too.
    else if ((SOURCE.test(abs) || !statSync(abs, { throwIfNoEntry: false })?.isFile()) && !ignored(config, abs)) pending.add(abs);
    else return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(flush, DEBOUNCE_MS);
  };
  // Listening before saying so: a signal sent on reading the line must find the handler.
  const stop = stopped(options.stop);
  io.out('fsm generate: watching for changes; SIGINT or SIGTERM stops\n');

  await stop;
  watchers.close();
  if (timer) clearTimeout(timer);
  await running;
  io.out('fsm generate: stopped watching\n');
  return EXIT_OK;
}

function inside(dir: string | undefined, path: string): boolean {
  return dir !== undefined && (path === dir || path.startsWith(dir + sep));
}

/** The output folder, node_modules and dot folders below the project root are never read from. */
function ignored(config: ResolvedConfig, path: string): boolean {
  if (inside(config.outDir, path)) return true;
  return relative(config.root, path)
    .split(sep)
    .some((part) => part === 'node_modules' || (part.startsWith('.') && part !== '..' && part !== '.'));
}

/** The folder each include glob starts from (`src` for `src/**\/*.machine.ts`), or its nearest existing parent. */
function includeBases(config: ResolvedConfig): string[] {
  return config.include.map((pattern) => {
    const parts = pattern.split('/');
    const wild = parts.findIndex((p) => /[*?[\]{}()!]/.test(p));
    const fixed = parts.slice(0, wild < 0 ? parts.length - 1 : wild);
    let dir = resolve(config.root, ...fixed);
    while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
    return dir;
  });
}

/**
 * node's fs.watch, one per folder (recursive where asked; on Linux, Node 20 supports that), each
 * folder once: a folder inside a recursively watched one is not watched again. It reports every
 * event, where a library such as chokidar drops a second change to a file within 50 ms (a
 * save followed by a formatter's write), which would leave the output stale.
 */
class Watchers {
  private readonly watchers = new Map<string, { watcher: FSWatcher; recursive: boolean }>();

  constructor(
    private readonly onPath: (path: string) => void,
    private readonly onError: (error: Error) => void,
  ) {}

  add(dir: string, recursive: boolean): void {
    const covered = [...this.watchers].some(([d, w]) => d === dir ? w.recursive || !recursive : w.recursive && inside(d, dir));
    if (covered || !existsSync(dir)) return;
    const watcher = watch(dir, { recursive }, (_event, name) => {
      if (name) this.onPath(join(dir, name.toString()));
    });
    watcher.on('error', (error) => {
      this.onError(error);
      watcher.close();
      this.watchers.delete(dir);
    });
    this.watchers.get(dir)?.watcher.close();
    this.watchers.set(dir, { watcher, recursive });
  }

  close(): void {
    for (const { watcher } of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }
}
