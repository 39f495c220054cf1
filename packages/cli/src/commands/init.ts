import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { EXIT_FAILURE, EXIT_OK, UsageError, type Command, type Io, parseFlags } from '../command.js';

const USAGE = `Usage: fsm init [options]

Sets up fsmkit in the package of the working directory: fsm.config.ts, a sample machine,
package.json scripts and, when there is none, a tsconfig.json. It never overwrites a file or a
script that exists (it says what it kept). Then it prints the packages to install.

Options:
      --mysql              instances in MySQL: adds the migrate and worker scripts and @fsmkit/mysql
      --kafka              events to Kafka: a topic on the sample machine, the relay script,
                           @fsmkit/kafka and kafkajs
      --table-prefix <p>   tablePrefix in the config (default: none, so fsm_)
      --src <dir>          folder of the machines (default src)
  -h, --help               show this help

Exit codes: 0 ok, 1 no package.json here, 2 bad usage.`;

export const initCommand: Command = {
  name: 'init',
  summary: 'set up fsmkit in this package: config, a sample machine, scripts',
  usage: USAGE,
  run: runInit,
};

async function runInit(args: string[], io: Io): Promise<number> {
  const values = parseFlags(
    args,
    {
      mysql: { type: 'boolean', default: false },
      kafka: { type: 'boolean', default: false },
      'table-prefix': { type: 'string' },
      src: { type: 'string', default: 'src' },
    },
    USAGE,
    io,
  );
  if (values === null) return EXIT_OK;
  const prefix = values['table-prefix'];
  if (prefix !== undefined) {
    const { tablePrefix } = await import('@fsmkit/mysql/schema');
    try {
      tablePrefix({ tablePrefix: prefix });
    } catch (error) {
      throw new UsageError(`--table-prefix: ${(error as Error).message}`);
    }
  }
  const src = posix.normalize(values.src.split('\\').join('/')).replace(/\/$/, '');
  if (src.startsWith('..') || posix.isAbsolute(src)) throw new UsageError(`--src must be a folder inside the package, not "${values.src}"`);
  const manifest = join(io.cwd, 'package.json');
  if (!existsSync(manifest)) {
    io.err(`fsm init: no package.json in ${io.cwd}: run it in your package's folder (npm init -y makes one)\n`);
    return EXIT_FAILURE;
  }

  const report = (verb: string, what: string) => io.out(`  ${verb.padEnd(8)} ${what}\n`);
  const write = (file: string, content: string) => {
    const path = join(io.cwd, file);
    if (existsSync(path)) return report('kept', `${file} (exists)`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    report('created', file);
  };

  io.out(`fsm init: ${io.cwd}\n`);
  const { CONFIG_FILES } = await import('@fsmkit/generator/config');
  const existing = CONFIG_FILES.find((f) => existsSync(join(io.cwd, f)));
  if (existing === undefined) write('fsm.config.ts', configText(src, prefix));
  else report('kept', `${existing} (exists)`);
  write(`${src}/hello.machine.ts`, machineText(values.kafka));
  if (!existsSync(join(io.cwd, 'tsconfig.json'))) write('tsconfig.json', TSCONFIG);

  const scripts: Record<string, string> = { 'fsm:generate': 'fsm generate' };
  if (values.mysql) Object.assign(scripts, { 'fsm:migrate': 'fsm migrate', 'fsm:worker': 'fsm worker' });
  if (values.kafka) scripts['fsm:relay'] = 'fsm relay';
  addScripts(manifest, scripts, report);

  const pm = packageManager(io.cwd);
  const runtime = ['@fsmkit/runtime'];
  // The worker and the relay run in production, so the command goes with the runtime there.
  if (values.mysql || values.kafka) runtime.push('@fsmkit/cli');
  if (values.mysql) runtime.push('@fsmkit/mysql');
  if (values.kafka) runtime.push('@fsmkit/kafka', 'kafkajs');
  const dev = [...(values.mysql || values.kafka ? [] : ['@fsmkit/cli']), '@fsmkit/generator', 'typescript', 'tsx', '@types/node'];
  io.out(`\nInstall what it uses:\n  ${pm.add} ${runtime.join(' ')}\n  ${pm.addDev} ${dev.join(' ')}\n`);
  io.out(`Then: ${pm.run} fsm:generate${values.mysql ? `, ${pm.run} fsm:migrate` : ''}\n`);
  return EXIT_OK;
}

function configText(src: string, prefix: string | undefined): string {
  return `import { defineConfig } from '@fsmkit/generator/config';

export default defineConfig({
  include: ['${src}/**/*.machine.ts'],
  outDir: '${src}/generated',${prefix === undefined ? '' : `\n  tablePrefix: '${prefix}',`}
});
`;
}

function machineText(kafka: boolean): string {
  return `import { Machine, Step, type StepContext } from '@fsmkit/runtime';

export interface HelloData {
  name: string;
  greeting?: string;
  sent?: boolean;
}

/** A sample machine: \`fsm generate\` writes its runner to the generated folder. */
@Machine({ name: 'hello'${kafka ? ", topic: 'hello.fsm'" : ''} })
export class HelloMachine {
  @Step(1)
  async compose(ctx: StepContext<HelloData>) {
    ctx.data.greeting = \`hello \${ctx.data.name}\`;
  }

  @Step(2)
  async send(ctx: StepContext<HelloData>) {
    ctx.data.sent = true;
  }
}
`;
}

// The generated runners import with .js suffixes, as Node's ESM resolution wants.
const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "skipLibCheck": true,
    "noEmit": true,
    "types": ["node"]
  },
  "include": ["src", "fsm.config.ts"]
}
`;

/** Adds the scripts that are not there yet, keeping the file's indentation and the rest as it is. */
function addScripts(file: string, scripts: Record<string, string>, report: (verb: string, what: string) => void): void {
  const text = readFileSync(file, 'utf8');
  const pkg = JSON.parse(text) as { scripts?: Record<string, string> };
  pkg.scripts ??= {};
  let changed = false;
  for (const [name, command] of Object.entries(scripts)) {
    if (pkg.scripts[name] !== undefined) {
      report('kept', `script ${name} (exists: ${pkg.scripts[name]})`);
      continue;
    }
    pkg.scripts[name] = command;
    changed = true;
    report('added', `script ${name}: ${command}`);
  }
  if (!changed) return;
  const indent = /^[ \t]+/m.exec(text)?.[0] ?? '  ';
  writeFileSync(file, `${JSON.stringify(pkg, null, indent)}\n`);
}

function packageManager(cwd: string): { add: string; addDev: string; run: string } {
  if (existsSync(join(cwd, 'pnpm-lock.yaml'))) return { add: 'pnpm add', addDev: 'pnpm add -D', run: 'pnpm' };
  if (existsSync(join(cwd, 'yarn.lock'))) return { add: 'yarn add', addDev: 'yarn add -D', run: 'yarn' };
  return { add: 'npm install', addDev: 'npm install -D', run: 'npm run' };
}
