import { Worker } from 'node:worker_threads';
import type { GeneratedFile } from './emit/types.js';
import { Listings, removeUnwanted, type StaleFile, type WriteOptions, type WriteResult } from './write.js';

/**
 * What `writeFiles` does to each file (compare with the file on disk, write it when it
 * differs, or in check mode name it), on a worker thread, so that a full run's thousands of
 * writes happen while the main thread still emits. Plain JavaScript evaluated by the worker:
 * it has no module to load, whether the generator runs built or from its sources. It takes
 * node's modules with `import()`, which works whether the worker evaluates it as a script or
 * (under `--input-type=module`, which workers inherit) as a module.
 */
const WORKER_SOURCE = `
Promise.all([import('node:worker_threads'), import('node:fs'), import('node:path')]).then(([threads, fs, path]) => {
const { parentPort, workerData } = threads;
const { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } = fs;
const { join } = path;
const { outDir, check } = workerData;
const listings = new Map();
const made = new Set();
const listing = (dir) => {
  let names = listings.get(dir);
  if (names === undefined) {
    const abs = join(outDir, dir);
    names = new Set(existsSync(abs) ? readdirSync(abs) : []);
    listings.set(dir, names);
  }
  return names;
};
const result = { written: [], unchanged: [], stale: [] };
if (!check) mkdirSync(outDir, { recursive: true });
parentPort.on('message', (batch) => {
  try {
    if (batch === null) {
      parentPort.postMessage({ result });
      parentPort.close();
      return;
    }
    const bytes = Buffer.from(batch.bytes);
    let start = 0;
    for (const [i, relPath] of batch.paths.entries()) {
      const content = bytes.subarray(start, batch.ends[i]);
      start = batch.ends[i];
      const path = join(outDir, relPath);
      const slash = relPath.lastIndexOf('/');
      const dir = slash < 0 ? '' : relPath.slice(0, slash);
      const current = listing(dir).has(relPath.slice(slash + 1)) ? readFileSync(path) : undefined;
      if (current !== undefined && current.equals(content)) result.unchanged.push(path);
      else if (check) result.stale.push({ path, reason: current === undefined ? 'missing' : 'changed' });
      else {
        if (dir !== '' && !made.has(dir)) {
          mkdirSync(join(outDir, dir), { recursive: true });
          made.add(dir);
        }
        writeFileSync(path, content);
        result.written.push(path);
      }
    }
  } catch (error) {
    parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) });
    parentPort.close();
  }
});
});
`;

/** Files are sent in batches of this many: one message per file would cost more than it moves. */
const BATCH = 64;

/**
 * `writeFiles` in two halves: `add` hands files to a worker as they are made, `finish` waits
 * for it, then removes what is no longer wanted as `writeFiles` does. The result is the same,
 * its lists in path order as `writeFiles` gives them for sorted files.
 */
export class BackgroundWriter {
  private readonly worker: Worker;
  private readonly outcome: Promise<Omit<WriteResult, 'removed'>>;
  private batch: GeneratedFile[] = [];

  constructor(private readonly options: WriteOptions) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { outDir: options.outDir, check: options.check ?? false } });
    this.outcome = new Promise((resolve, reject) => {
      this.worker.once('message', (message: { result?: Omit<WriteResult, 'removed'>; error?: string }) =>
        message.result ? resolve(message.result) : reject(new Error(`writing ${options.outDir}: ${message.error}`)),
      );
      this.worker.once('error', reject);
    });
    // A failure is reported by `finish`; until then it must not count as unhandled.
    this.outcome.catch(() => undefined);
  }

  add(files: readonly GeneratedFile[]): void {
    this.batch.push(...files);
    if (this.batch.length >= BATCH) this.flush();
  }

  /** Waits for every file added, then removes the unwanted ones; `files` are all that were added. */
  async finish(files: readonly GeneratedFile[]): Promise<WriteResult> {
    this.flush();
    this.worker.postMessage(null);
    const outcome = await this.outcome;
    const byPath = (a: { path: string } | string, b: { path: string } | string) => {
      const pa = typeof a === 'string' ? a : a.path;
      const pb = typeof b === 'string' ? b : b.path;
      return pa < pb ? -1 : pa > pb ? 1 : 0;
    };
    const result: WriteResult = {
      written: outcome.written.sort(byPath),
      unchanged: outcome.unchanged.sort(byPath),
      removed: [],
      stale: (outcome.stale as StaleFile[]).sort(byPath),
    };
    return removeUnwanted(files, this.options, result, new Listings(this.options.outDir));
  }

  /** Stops the worker; what it has written stays. */
  async abort(): Promise<void> {
    await this.worker.terminate();
  }

  /**
   * Sends the batch as UTF-8 bytes in one buffer, handed over rather than copied: cloning
   * thousands of strings into the worker cost the main thread as much as writing them.
   */
  private flush(): void {
    if (this.batch.length === 0) return;
    const ends: number[] = [];
    let total = 0;
    for (const file of this.batch) ends.push((total += Buffer.byteLength(file.content)));
    const bytes = Buffer.allocUnsafeSlow(total);
    this.batch.forEach((file, i) => bytes.write(file.content, i === 0 ? 0 : ends[i - 1]!));
    this.worker.postMessage({ paths: this.batch.map((f) => f.path), ends, bytes: bytes.buffer }, [bytes.buffer]);
    this.batch = [];
  }
}
