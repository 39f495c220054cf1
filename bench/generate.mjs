/**
 * generate: wall time and peak RSS of `fsm generate` over 1,000 machine classes of 5 steps
 * each (every artefact written to an empty output folder), against the floor: a bare ts-morph
 * script that adds the same files and reads every decorator's name and arguments. Both run in
 * child processes, alternating, measured by /usr/bin/time; the figures are medians.
 * The files live on tmpfs (/dev/shm) when there is one, BENCH_TMPDIR otherwise: creating 4,000
 * files on a disk that a database is fsyncing to at the same time can take seconds, and that
 * would measure the neighbours rather than the generator.
 * Last line: the JSON result (DESIGN.md section 10). ratio = floor / ours, higher is better.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliArgs, cliMode } from './support/cli.mjs';
import { makeProject, STEPS } from './support/machines.mjs';

const MACHINES = Number(process.env.BENCH_MACHINES ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TIME = '/usr/bin/time';
const tsMorph = import.meta.resolve('ts-morph');

const FLOOR = `
import { Project } from ${JSON.stringify(tsMorph)};
import { readdirSync } from 'node:fs';
const dir = process.argv[1];
const project = new Project({ skipAddingFilesFromTsConfig: true, skipFileDependencyResolution: true });
for (const f of readdirSync(dir)) project.addSourceFileAtPath(dir + '/' + f);
let decorators = 0;
const read = (d) => { decorators++; return d.getName() + d.getArguments().map((a) => a.getText()).join(); };
for (const file of project.getSourceFiles())
  for (const cls of file.getClasses()) {
    cls.getDecorators().forEach(read);
    for (const method of cls.getMethods()) method.getDecorators().forEach(read);
  }
console.log(decorators + ' decorators');
`;

/** Runs a command under /usr/bin/time; returns wall and CPU (user + system) seconds and peak RSS in MiB. */
function measure(args, cwd) {
  const stats = join(cwd, '.time');
  const run = spawnSync(TIME, ['-f', '%e %U %S %M', '-o', stats, process.execPath, ...args], { cwd, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${args.join(' ')} failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
  const [wall, user, system, rssKiB] = readFileSync(stats, 'utf8').trim().split(/\s+/).slice(-4).map(Number);
  return { wall, cpu: user + system, rss: rssKiB / 1024, stdout: run.stdout };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

if (!existsSync(TIME)) throw new Error(`${TIME} is needed to measure peak RSS (apt-get install time)`);
const base = process.env.BENCH_TMPDIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
const work = mkdtempSync(join(base, 'fsm-bench-generate-'));
try {
  const { src, outDir } = makeProject(work, MACHINES);
  const floor = () => measure(['--input-type=module', '-e', FLOOR, src], work);
  const ours = () => {
    rmSync(outDir, { recursive: true, force: true });
    const m = measure(cliArgs('generate'), work);
    // Per machine: runner, SQL, event schema, diagram and the schema-evolution snapshot
    // (migrations/meta/); then the shared SQL, AsyncAPI, index and model.json.
    const files = readdirSync(outDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
    if (files !== MACHINES * 5 + 4) throw new Error(`expected ${MACHINES * 5 + 4} files, found ${files}`);
    return m;
  };

  // Warm the disk cache and tsx's transform cache; not counted.
  floor();
  ours();
  const rounds = [];
  for (let r = 0; r < RUNS; r++) {
    const f = floor();
    const o = ours();
    rounds.push({ f, o });
    const line = (m) => `${m.wall.toFixed(2)} s (CPU ${m.cpu.toFixed(2)} s) ${m.rss.toFixed(0)} MiB`;
    console.log(`round ${r + 1}: floor ${line(f)} | fsm generate ${line(o)}`);
  }
  const value = median(rounds.map((r) => r.o.wall));
  const baselineValue = median(rounds.map((r) => r.f.wall));
  const result = {
    bench: 'generate',
    metric: 'wall_s',
    value,
    baseline: 'ts-morph parse+decorator walk',
    baselineValue,
    ratio: Number((baselineValue / value).toFixed(3)),
    unit: 's',
    // On a loaded machine wall times swing with the neighbours; CPU time much less.
    cpuRatio: Number((median(rounds.map((r) => r.f.cpu)) / median(rounds.map((r) => r.o.cpu))).toFixed(3)),
    cpuS: Number(median(rounds.map((r) => r.o.cpu)).toFixed(2)),
    baselineCpuS: Number(median(rounds.map((r) => r.f.cpu)).toFixed(2)),
    peakRssMiB: Math.round(median(rounds.map((r) => r.o.rss))),
    baselinePeakRssMiB: Math.round(median(rounds.map((r) => r.f.rss))),
  };
  console.log(`${MACHINES} machines x ${STEPS} steps in ${base}, ${cliMode()}, ${RUNS} rounds (medians)`);
  console.log(JSON.stringify(result));
} finally {
  rmSync(work, { recursive: true, force: true });
}
