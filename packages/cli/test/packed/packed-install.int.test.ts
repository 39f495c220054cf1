/**
 * fsmkit as a user gets it: every package built and packed, the tarballs installed into a fresh
 * project in a temporary folder (npm, and once pnpm), and the readme's install commands run
 * there. Nothing here resolves through this repository's tsconfig, loaders or node_modules.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unavailable } from '../../../../test/support/services.js';
import { dropTablesWithPrefix, MYSQL_URL, mysqlUnavailable, testPool, uniquePrefix, type Pool, type Rows } from '../support/mysql.js';
import { buildAndPack, cleanEnv, PACKAGES, readmeInstallCommands, removePacked, repoRoot, tarball, type Packed } from './pack.js';

const run = promisify(execFile);
const BROKER = (process.env['KAFKA_BROKERS'] || '127.0.0.1:9092').split(',')[0]!;
const mysqlReason = await mysqlUnavailable();
const kafkaReason = await unavailable(`Kafka at ${BROKER}`, 'the packed-install test (fsm relay)', () => answers(BROKER));

/** What a new user runs, as the readme's "Install in your project" section shows it. */
const USER_COMMANDS = [
  'npm install @fsmkit/runtime @fsmkit/cli @fsmkit/mysql @fsmkit/kafka kafkajs',
  'npm install -D @fsmkit/generator typescript tsx @types/node',
  'npx fsm init --mysql --kafka --table-prefix shop_',
  'npx fsm generate',
  'npx tsc -p .',
  'npx fsm migrate',
  'npx fsm worker',
  'npx fsm inspect --machine hello',
  'npx fsm relay',
];

const MAIN_TS = `import { createHelloRunner } from './generated/index.js';

const runner = createHelloRunner();
const done = await runner.start({ name: 'ada' });
console.log(done.status, done.data.greeting);
`;

const ENQUEUE_TS = `import { createMysqlStore } from '@fsmkit/mysql';
import config from '../fsm.config.js';
import { createHelloRunner } from './generated/index.js';

const store = createMysqlStore({ tablePrefix: config.tablePrefix });
const runner = createHelloRunner({ store });
for (const name of ['ada', 'bob', 'cy']) console.log((await runner.create({ name })).id);
await store.close();
`;

const LEGACY_TSCONFIG = '{ "extends": "./tsconfig.json", "compilerOptions": { "experimentalDecorators": true, "emitDecoratorMetadata": true } }\n';

function answers(hostPort: string): Promise<void> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: host!, port: Number(port ?? 9092), timeout: 2000 });
    socket.once('connect', () => (socket.destroy(), resolve()));
    socket.once('error', reject);
    socket.once('timeout', () => (socket.destroy(), reject(new Error('connection timed out'))));
  });
}

/** The file paths of an exports map (its string leaves). */
function leaves(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object' || value === null) return [];
  return Object.values(value).flatMap(leaves);
}

const env = () => cleanEnv({ FSM_MYSQL_URL: MYSQL_URL, KAFKA_BROKERS: BROKER });

/** Runs one command line in `cwd`; resolves to its stdout, or fails with its output. */
async function sh(cwd: string, file: string, args: string[], timeout = 180_000): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd, env: env(), timeout, maxBuffer: 16 << 20 });
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** A project folder as `npm init` leaves it, outside this repository. */
function freshProject(root: string, name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
  return dir;
}

/** `file:` specs of the tarballs, relative to the project, as npm writes them into package.json. */
function fileSpecs(packed: Packed, dir: string): Map<string, string> {
  return new Map([...packed.tarballs].map(([name, path]) => [name, `file:${relative(dir, path)}`]));
}

interface Background {
  child: ChildProcess;
  out: () => string;
  exit: Promise<number | null>;
}

function background(cwd: string, file: string, args: string[]): Background {
  const child = spawn(file, args, { cwd, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, exit };
}

async function until(check: () => Promise<boolean>, ms: number, what: string, output: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(mysqlReason !== null || kafkaReason !== null)('fsmkit installed from its packed tarballs', () => {
  let packed: Packed | undefined;
  let root: string;
  let pool: Pool;
  const prefix = uniquePrefix();
  const children: ChildProcess[] = [];

  beforeAll(() => {
    packed = buildAndPack();
    root = mkdtempSync(join(tmpdir(), 'fsm-user-'));
    pool = testPool();
  }, 300_000);
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await dropTablesWithPrefix(pool, prefix);
    await pool.end();
    removePacked(packed);
    rmSync(root, { recursive: true, force: true });
  });

  it('the readme shows the commands this test runs', () => {
    expect(readmeInstallCommands()).toEqual(USER_COMMANDS);
  });

  it('each tarball: exports only what it ships (no source condition), maps carry their sources, nothing stale', () => {
    for (const name of PACKAGES) {
      const tgz = tarball(packed!.tarballs.get(`@fsmkit/${name}`)!);
      const manifest = JSON.parse(tgz.read('package.json')) as Record<string, unknown>;
      const exportsText = JSON.stringify(manifest['exports']);
      expect(exportsText, name).not.toContain('"source"');
      expect(JSON.stringify(manifest), name).not.toContain('workspace:');
      const targets = leaves(manifest['exports']).map((t) => t.slice(2));
      for (const target of [...targets, String(manifest['main']).slice(2), String(manifest['types']).slice(2)]) {
        expect(tgz.files, `${name}: exports name ${target}`).toContain(target);
      }
      expect(manifest['engines'], name).toEqual({ node: '>=20' });
      expect(manifest['sideEffects'], name).toBeDefined();
      expect(tgz.files.some((f) => f.startsWith('src/') || f.endsWith('.tsbuildinfo') || f.endsWith('.d.ts.map')), name).toBe(false);
      for (const map of tgz.files.filter((f) => f.endsWith('.js.map'))) {
        const { sources, sourcesContent } = JSON.parse(tgz.read(map)) as { sources: string[]; sourcesContent?: Array<string | null> };
        expect(sourcesContent?.length, `${name}/${map}`).toBe(sources.length);
        expect(sourcesContent!.every((c) => typeof c === 'string' && c.length > 0), `${name}/${map}`).toBe(true);
      }
      // A module left in dist by an older build would be published: each one has its source.
      for (const js of tgz.files.filter((f) => f.startsWith('dist/') && f.endsWith('.js'))) {
        const src = join(repoRoot, 'packages', name, 'src', js.slice('dist/'.length).replace(/\.js$/, '.ts'));
        expect(existsSync(src), `${name}/${js} has no source: rebuild from clean`).toBe(true);
      }
    }
    expect(tarball(packed!.tarballs.get('@fsmkit/generator')!).files).toContain('templates/runner.ts.hbs');
    expect(tarball(packed!.tarballs.get('@fsmkit/cli')!).files).toContain('bin/fsm.mjs');
  });

  it('publint and arethetypeswrong find nothing in any tarball', async () => {
    const bin = (name: string) => join(repoRoot, 'node_modules', '.bin', name);
    await Promise.all(
      [...packed!.tarballs].map(async ([name, file]) => {
        const lint = await sh(repoRoot, bin('publint'), ['run', file, '--strict']);
        expect(lint, name).toContain('All good!');
        // ESM only by design: `require()` of an fsmkit package is not supported, so the profile ignores it.
        await sh(repoRoot, bin('attw'), [file, '--profile', 'esm-only', '--format', 'ascii']);
      }),
    );
  }, 240_000);

  it('changeset version, then pack, gives what would be published', async () => {
    const copy = join(root, 'release');
    for (const file of ['package.json', 'pnpm-workspace.yaml', '.changeset', 'templates', 'bench/package.json', 'examples/orders/package.json'])
      cpSync(join(repoRoot, file), join(copy, file), { recursive: true });
    for (const name of PACKAGES) {
      cpSync(join(repoRoot, 'packages', name, 'package.json'), join(copy, 'packages', name, 'package.json'));
      cpSync(join(repoRoot, 'packages', name, 'dist'), join(copy, 'packages', name, 'dist'), { recursive: true });
    }
    const changesetBin = join(createRequire(join(repoRoot, 'package.json')).resolve('@changesets/cli/package.json'), '..', 'bin.js');
    await sh(copy, process.execPath, [changesetBin, 'version']);
    const version = (JSON.parse(readFileSync(join(copy, 'packages', 'runtime', 'package.json'), 'utf8')) as { version: string }).version;
    expect(version).not.toBe('0.1.0');
    for (const name of PACKAGES) {
      const dir = join(copy, 'packages', name);
      expect(readFileSync(join(dir, 'CHANGELOG.md'), 'utf8')).toContain(`## ${version}`);
      await sh(dir, 'pnpm', ['pack', '--pack-destination', join(copy, 'out')]);
      const manifest = JSON.parse(tarball(join(copy, 'out', `fsmkit-${name}-${version}.tgz`)).read('package.json')) as {
        version: string;
        dependencies?: Record<string, string>;
        exports: unknown;
      };
      expect(manifest.version).toBe(version);
      for (const [dep, range] of Object.entries(manifest.dependencies ?? {})) if (dep.startsWith('@fsmkit/')) expect(range, `${name} -> ${dep}`).toBe(version);
      expect(JSON.stringify(manifest)).not.toMatch(/workspace:|"source"/);
    }
  }, 240_000);

  it('with npm: init, generate, tsc in both decorator modes, the runner in memory; migrate, worker, inspect, relay on MariaDB and Kafka', async () => {
    const dir = freshProject(root, 'shop');
    const specs = fileSpecs(packed!, dir);
    // The registry would serve @fsmkit/*; here every reference to them, direct or not, is a tarball.
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...manifest, overrides: Object.fromEntries(specs) }, null, 2));

    const bin = (name: string) => join(dir, 'node_modules', '.bin', name);
    const command = (line: string): [string, string[]] => {
      const words = line.split(' ').map((w) => (w === 'shop_' ? prefix : (specs.get(w) ?? w)));
      if (words[0] === 'npm') return ['npm', [...words.slice(1), '--prefer-offline', '--no-audit', '--no-fund']];
      if (words[0] === 'npx') return [bin(words[1]!), words.slice(2)];
      throw new Error(`no way to run "${line}"`);
    };
    const [install, installDev, init, generate, tsc, migrate, worker, inspect, relay] = USER_COMMANDS.map(command);

    await sh(dir, ...install!);
    await sh(dir, ...installDev!);
    // Nothing may come from this repository: every fsmkit module resolves inside the project.
    for (const name of packed!.tarballs.keys()) {
      expect(realpathSync(createRequire(join(dir, 'package.json')).resolve(name)).startsWith(realpathSync(dir)), name).toBe(true);
    }

    const initOut = await sh(dir, ...init!);
    expect(initOut).toContain('created  fsm.config.ts');
    expect(initOut).toContain('npm install @fsmkit/runtime @fsmkit/cli @fsmkit/mysql @fsmkit/kafka kafkajs');
    expect(await sh(dir, ...generate!)).toContain('fsm generate: 1 machine -> src/generated');

    writeFileSync(join(dir, 'src', 'main.ts'), MAIN_TS);
    writeFileSync(join(dir, 'src', 'enqueue.ts'), ENQUEUE_TS);
    writeFileSync(join(dir, 'tsconfig.legacy.json'), LEGACY_TSCONFIG);
    await sh(dir, ...tsc!);
    await sh(dir, bin('tsc'), ['-p', 'tsconfig.legacy.json']);
    expect(await sh(dir, bin('tsx'), ['src/main.ts'])).toBe('done hello ada\n');
    expect(await sh(dir, bin('tsx'), ['--tsconfig', 'tsconfig.legacy.json', 'src/main.ts'])).toBe('done hello ada\n');
    // With the `source` condition on, the packages still resolve to what they ship.
    expect(await sh(dir, process.execPath, ['--conditions=source', '--input-type=module', '-e', "const m = await import('@fsmkit/runtime'); console.log(typeof m.createRunner)"])).toBe('function\n');

    const migrated = await sh(dir, ...migrate!);
    expect(migrated).toContain(`(journal ${prefix}migrations)`);
    const [tables] = await pool.query('SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?)', [`${prefix}hello`, `${prefix}outbox`]);
    expect((tables as Rows).length).toBe(2);

    const ids = (await sh(dir, bin('tsx'), ['src/enqueue.ts'])).trim().split('\n');
    expect(ids).toHaveLength(3);
    const doneCount = async () => {
      const [rows] = await pool.query(`SELECT COUNT(*) AS n FROM \`${prefix}hello\` WHERE status = 'done'`);
      return Number((rows as Rows)[0]!['n']);
    };
    const work = background(dir, ...worker!);
    children.push(work.child);
    await until(async () => (await doneCount()) === 3, 60_000, 'fsm worker to drive 3 instances', work.out);
    work.child.kill('SIGTERM');
    expect(await work.exit).toBe(0);
    expect(work.out()).toContain('fsm worker: stopped after driving 3 instances');

    const listed = await sh(dir, ...inspect!);
    for (const id of ids) expect(listed).toMatch(new RegExp(`^${id}\\s+done\\s+done`, 'm'));

    const [events] = await pool.query(`SELECT COUNT(*) AS n FROM \`${prefix}outbox\``);
    const total = Number((events as Rows)[0]!['n']);
    expect(total).toBeGreaterThan(0);
    const publishing = background(dir, ...relay!);
    children.push(publishing.child);
    const unsent = async () => {
      const [rows] = await pool.query(`SELECT COUNT(*) AS n FROM \`${prefix}outbox\` WHERE sent_at IS NULL`);
      return Number((rows as Rows)[0]!['n']);
    };
    await until(async () => (await unsent()) === 0, 60_000, 'fsm relay to publish the outbox', publishing.out);
    publishing.child.kill('SIGTERM');
    expect(await publishing.exit).toBe(0);
    expect(publishing.out()).toContain(`fsm relay: stopped; ${total} event(s) published`);
  }, 300_000);

  it('with pnpm: init, generate, tsc and the runner in memory', async () => {
    const dir = freshProject(root, 'shop-pnpm');
    const specs = fileSpecs(packed!, dir);
    // pnpm 12 runs no dependency build script unless allowed; tsx needs esbuild's.
    writeFileSync(
      join(dir, 'pnpm-workspace.yaml'),
      `overrides:\n${[...specs].map(([name, spec]) => `  '${name}': '${spec}'\n`).join('')}allowBuilds:\n  esbuild: true\n`,
    );
    const swap = (words: string[]) => words.map((w) => specs.get(w) ?? w);
    await sh(dir, 'pnpm', ['add', '--prefer-offline', ...swap(['@fsmkit/runtime', '@fsmkit/cli'])]);
    await sh(dir, 'pnpm', ['add', '-D', '--prefer-offline', ...swap(['@fsmkit/generator', 'typescript', 'tsx', '@types/node'])]);
    expect(await sh(dir, 'pnpm', ['exec', 'fsm', 'init'])).toContain('pnpm add @fsmkit/runtime');
    await sh(dir, 'pnpm', ['exec', 'fsm', 'generate']);
    writeFileSync(join(dir, 'src', 'main.ts'), MAIN_TS);
    writeFileSync(join(dir, 'tsconfig.legacy.json'), LEGACY_TSCONFIG);
    await sh(dir, 'pnpm', ['exec', 'tsc', '-p', '.']);
    await sh(dir, 'pnpm', ['exec', 'tsc', '-p', 'tsconfig.legacy.json']);
    expect(await sh(dir, 'pnpm', ['exec', 'tsx', 'src/main.ts'])).toBe('done hello ada\n');
  }, 240_000);
});
