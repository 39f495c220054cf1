/**
 * Runs every ```ts sample of the readme, as a user would: each in its own process, next to
 * the example service (so `./generated/...` and `./order.machine.js` resolve), and checks
 * that each `//=> text` comment matches what the sample printed, in order.
 */
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { unavailable } from './support/services.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const exampleDir = join(root, 'examples', 'orders');
const scratch = join(exampleDir, 'src', '.readme-samples');
const tsx = join(dirname(createRequire(join(exampleDir, 'package.json')).resolve('tsx/package.json')), 'dist', 'cli.mjs');

interface Sample {
  line: number;
  tag: string;
  code: string;
}

function samples(): Sample[] {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  const out: Sample[] = [];
  const fence = /^```ts( [a-z]+)?\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(text); m; m = fence.exec(text)) {
    out.push({ line: text.slice(0, m.index).split('\n').length, tag: (m[1] ?? '').trim(), code: m[2]! });
  }
  return out;
}

function expected(code: string): string[] {
  return [...code.matchAll(/\/\/=> (.*)$/gm)].map((m) => m[1]!.trim());
}

/** Samples that need a service run when it answers, and must when FSM_REQUIRE_SERVICES=1. */
const services: Record<string, string> = {
  mysql: new URL(process.env['FSM_MYSQL_URL'] || 'mysql://root@127.0.0.1:3306/test').host || '127.0.0.1:3306',
  kafka: (process.env['KAFKA_BROKERS'] || '127.0.0.1:9092').split(',')[0]!,
};

/** Resolves when something accepts a TCP connection at host:port. */
function answers(hostPort: string): Promise<void> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: host!, port: Number(port ?? 3306), timeout: 1000 });
    socket.once('connect', () => (socket.destroy(), resolve()));
    socket.once('error', reject);
    socket.once('timeout', () => (socket.destroy(), reject(new Error('connection timed out'))));
  });
}

const missing = new Map<string, string>();
for (const [tag, hostPort] of Object.entries(services)) {
  const reason = await unavailable(`${tag} at ${hostPort}`, `readme samples tagged ${tag}`, () => answers(hostPort));
  if (reason !== null) missing.set(tag, reason);
}

describe('readme samples', () => {
  mkdirSync(scratch, { recursive: true });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  const all = samples();
  it('finds the samples', () => {
    expect(all.length).toBeGreaterThanOrEqual(5);
  });

  for (const sample of all) {
    if (sample.tag && !(sample.tag in services)) continue;
    it.skipIf(missing.has(sample.tag))(`README.md:${sample.line} runs and prints what it says`, () => {
      const file = join(scratch, `sample-${sample.line}.ts`);
      const code = sample.code.replace(/from '\.\/generated\//g, "from '../generated/").replace(/from '\.\/(order\.machine|services)\.js'/g, "from '../$1.js'");
      writeFileSync(file, `${code}\nexport {};\n`);
      const output = execFileSync(process.execPath, [tsx, '--conditions=source', '--tsconfig', join(exampleDir, 'tsconfig.json'), file], {
        cwd: exampleDir,
        encoding: 'utf8',
        env: { ...process.env },
        timeout: 60_000,
      });
      const printed = output.split('\n').filter((l) => l.length > 0);
      const want = expected(sample.code);
      expect(printed.slice(0, want.length)).toEqual(want);
      // Each sample is a process of its own (tsx compiles it first): seconds on a busy machine.
    }, 90_000);
  }
});
