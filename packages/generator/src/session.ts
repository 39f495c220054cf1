import { existsSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { glob } from 'tinyglobby';
import type { ResolvedConfig } from './config.js';
import { hasErrors, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { emitContext, machineFiles, sharedFiles, type EmitContext, type GeneratedFile } from './emit/index.js';
import { extract, type GenerateProgress } from './extract.js';
import { planMigrations } from './migrations/plan.js';
import { SNAPSHOT_DIR, snapshotPath } from './migrations/snapshot.js';
import { buildModels, type MachineEntry } from './model.js';
import { reportDuplicates, validateEntry } from './validate.js';
import { writeFiles, type StaleFile, type WriteOptions, type WriteResult } from './write.js';
import { BackgroundWriter } from './write-background.js';

export interface GenerateResult {
  config: ResolvedConfig;
  /** Everything that should be in outDir (after an update: what it emitted); empty when there are errors. */
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
  /** Machines in the project. */
  machines: number;
  /** Source files read again by this run (all of them on a full run). */
  reread: string[];
}

export interface RunOptions {
  /** Write nothing; report stale, missing and extra files. Always a full run. */
  check?: boolean;
  onProgress?: (progress: GenerateProgress) => void;
}

/** From this many machines to write, their files are written on a worker thread while the rest are made. */
const BACKGROUND_FROM = 64;

/** What one source file declares, as last read. */
interface FileState {
  entries: MachineEntry[];
  /** The diagnostics of its machines on their own; those across machines are made per run. */
  diagnostics: Diagnostic[];
}

/**
 * A generator that keeps what it read between runs, for `fsm generate --watch`. `run()` reads
 * everything; `update(paths)` reads again only the machine files among `paths` and those that
 * import one of them (directly or not, as types or base classes), and rewrites only their
 * files, their snapshots and the files made from every machine. Errors are those of a full
 * run, and as there, nothing is written while any exists: the machines changed meanwhile are
 * written by the first run without errors.
 */
export class GenerateSession {
  private readonly sources = new Map<string, FileState>();
  /** For each file read, the project files it imports (see Extraction.imports). */
  private readonly imports = new Map<string, string[]>();
  private included: string[] = [];
  private ctx: EmitContext | undefined;
  /** Files whose machines changed since the last write; none written yet means a full write. */
  private dirty = new Set<string>();
  /** Machine names that went away since the last write. */
  private readonly gone = new Set<string>();
  /** Machine name -> the paths its own files were last written to. */
  private readonly outputs = new Map<string, string[]>();
  private fullWrite = true;

  constructor(readonly config: ResolvedConfig) {}

  /** Reads every included file and brings outDir in line, as `fsm generate` does. */
  async run(options: RunOptions = {}): Promise<GenerateResult> {
    this.sources.clear();
    this.imports.clear();
    this.dirty.clear();
    this.gone.clear();
    this.fullWrite = true;
    this.included = await this.glob();
    this.read(this.included, options);
    return await this.finish(this.included, options);
  }

  /**
   * Takes in changes to `paths` (changed, added or deleted files or folders) and rewrites what
   * they affect. A path that no machine depends on changes nothing; the config, templates and
   * tsconfig are not followed here (start a new session for them).
   */
  async update(paths: Iterable<string>, options: Omit<RunOptions, 'check'> = {}): Promise<GenerateResult> {
    const changed = new Set([...paths].map((p) => resolve(p)));
    const known = new Set(this.included);
    // A new or deleted file may change what the globs match; an edit of a known one cannot.
    const listed = [...changed].every((p) => known.has(p) && existsSync(p)) ? this.included : await this.glob();
    const now = new Set(listed);
    for (const file of this.included) {
      if (now.has(file)) continue;
      this.forget(file);
    }
    const added = listed.filter((f) => !known.has(f));
    const affected = new Set([...added, ...listed.filter((f) => changed.has(f))]);
    // Files whose imports reach a changed file; when a file appears that nothing imported, also
    // those whose imports led nowhere (they may name it).
    const targets = new Set([...this.imports.values()].flat());
    const appeared = [...changed].some((p) => existsSync(p) && !known.has(p) && !targets.has(p));
    // A folder's path stands for everything under it (a folder deleted or moved at once).
    const within = (dep: string) => changed.has(dep) || [...changed].some((p) => dep.startsWith(p + sep));
    for (const file of this.sources.keys()) {
      if (affected.has(file) || !now.has(file)) continue;
      if (this.reaches(file, (dep) => within(dep) || (appeared && !existsSync(dep)))) affected.add(file);
    }
    this.included = listed;
    const reread = [...affected].sort();
    this.read(reread, options);
    return await this.finish(reread, options);
  }

  /** Every file the last runs read or tried to (machine files and what they import): what to watch. */
  dependencies(): string[] {
    return [...new Set([...this.included, ...[...this.imports.values()].flat()])].sort();
  }

  private async glob(): Promise<string[]> {
    const { config } = this;
    const outDirGlob = relative(config.root, config.outDir).split('\\').join('/');
    const files = await glob(config.include, {
      cwd: config.root,
      absolute: true,
      ignore: [...config.exclude, '**/node_modules/**', ...(outDirGlob && !outDirGlob.startsWith('..') ? [`${outDirGlob}/**`] : [])],
    });
    return files.map((f) => resolve(f)).sort();
  }

  /** Extracts `files` and replaces what was known of them. */
  private read(files: readonly string[], options: RunOptions): void {
    const { config } = this;
    const extraction = extract({
      files,
      ...(config.tsconfig ? { tsconfig: config.tsconfig } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    for (const file of files) this.imports.delete(file);
    for (const [file, targets] of extraction.imports) this.imports.set(file, targets);
    const byFile = new Map<string, MachineEntry[]>(files.map((f) => [f, []]));
    for (const entry of buildModels(extraction)) byFile.get(entry.source)?.push(entry);
    for (const [file, entries] of byFile) {
      for (const name of this.namesOf(file)) this.gone.add(name);
      const diagnostics = entries.flatMap((entry) => validateEntry(entry, { root: config.root }));
      this.sources.set(file, { entries, diagnostics });
      this.dirty.add(file);
    }
  }

  private forget(file: string): void {
    for (const name of this.namesOf(file)) this.gone.add(name);
    this.sources.delete(file);
    this.imports.delete(file);
    this.dirty.delete(file);
  }

  private namesOf(file: string): string[] {
    return (this.sources.get(file)?.entries ?? []).map((e) => e.model.name);
  }

  /** True when `test` holds for a file that `file` imports, directly or not. */
  private reaches(file: string, test: (dep: string) => boolean): boolean {
    const seen = new Set([file]);
    const stack = [file];
    for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
      for (const dep of this.imports.get(next) ?? []) {
        if (seen.has(dep)) continue;
        if (test(dep)) return true;
        seen.add(dep);
        stack.push(dep);
      }
    }
    return false;
  }

  /** Validates across machines, then (without errors) emits, plans migrations and writes. */
  private async finish(reread: string[], options: RunOptions): Promise<GenerateResult> {
    const { config } = this;
    const entries = [...this.sources.values()].flatMap((s) => s.entries);
    const diagnostics = [...this.sources.values()].flatMap((s) => s.diagnostics);
    reportDuplicates(entries, config.root, diagnostics);
    sortDiagnostics(diagnostics);
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
      machines: entries.length,
      reread,
    };
    if (hasErrors(diagnostics)) return result;

    const current = new Set(entries.map((e) => e.model.name));
    const full = this.fullWrite || (options.check ?? false);
    const changedEntries = full ? entries : [...this.dirty].flatMap((f) => this.sources.get(f)?.entries ?? []);
    const gone = [...this.gone].filter((name) => !current.has(name));
    const only = full ? undefined : new Set([...changedEntries.map((e) => e.model.name), ...gone]);
    const plan = planMigrations(entries, { outDir: config.outDir, root: config.root, tablePrefix: config.tablePrefix, ...(only ? { only } : {}) });
    if (plan.diagnostics.length > 0) {
      diagnostics.push(...plan.diagnostics);
      return result;
    }
    options.onProgress?.({ stage: 'write', done: 0, total: 1 });
    // Sources are named relative to the output folder, so the same output comes from any config location.
    this.ctx ??= emitContext({
      root: config.outDir,
      outDir: config.outDir,
      tablePrefix: config.tablePrefix,
      ...(config.templates ? { templates: config.templates } : {}),
    });
    const remove = gone.flatMap((name) => [...(this.outputs.get(name) ?? []), snapshotPath(name)]);
    const writeOptions: WriteOptions = {
      outDir: config.outDir,
      check: options.check ?? false,
      ...(full ? { sweep: [SNAPSHOT_DIR] } : { partial: { remove } }),
    };
    // Many files are written by a worker as they are made; a watch's few are written here.
    const background = changedEntries.length >= BACKGROUND_FROM ? new BackgroundWriter(writeOptions) : undefined;
    let written: WriteResult;
    try {
      background?.add(plan.files);
      const emitted: GeneratedFile[] = [];
      for (const entry of changedEntries) {
        const files = machineFiles(entry, this.ctx);
        if (!options.check) this.outputs.set(entry.model.name, files.map((f) => f.path));
        background?.add(files);
        emitted.push(...files);
      }
      const shared = sharedFiles(entries, this.ctx);
      background?.add(shared);
      emitted.push(...shared);
      result.files = [...emitted, ...plan.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      result.migrations = plan.migrations.map((path) => join(config.outDir, path));
      written = background ? await background.finish(result.files) : writeFiles(result.files, writeOptions);
    } catch (error) {
      // A template that throws must not leave the worker keeping the process alive.
      await background?.abort();
      throw error;
    }
    Object.assign(result, written);
    result.ok = !options.check || written.stale.length === 0;
    options.onProgress?.({ stage: 'write', done: 1, total: 1 });
    if (!options.check) {
      for (const name of gone) this.outputs.delete(name);
      this.dirty.clear();
      this.gone.clear();
      this.fullWrite = false;
    }
    return result;
  }
}
