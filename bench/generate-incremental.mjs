/**
 * generate-incremental: how long `fsm generate --watch` takes, in a project of 1,000 machines,
 * from the write of one machine file to its files rewritten (the watch's summary line, which it
 * prints after writing). Each edit changes the model (step 3's retry attempts), so the runner and
 * model.json really change; the bench checks the runner on disk after each one. Edits go to
 * machines spread over the project, one at a time, with a pause between them.
 * Baseline: a full `fsm generate` of the same project (a child process, as one would run it
 * instead of watching), median of BENCH_FULL_RUNS. ratio = full / incremental median.
 * Last line: the JSON result (DESIGN.md section 10).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cliArgs, cliMode } from './support/cli.mjs';
import { machineFileName, machineSource, makeProject } from './support/machines.mjs';

const MACHINES = Number(process.env.BENCH_MACHINES ?? 1000);
const EDITS = Number(process.env.BENCH_EDITS ?? 40);
const FULL_RUNS = Number(process.env.BENCH_FULL_RUNS ?? 3);
const PAUSE_MS = 150;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TICK_MS = 10; // /proc/<pid>/stat counts CPU time in clock ticks of 1/100 s on Linux
/** CPU time (user + system) a process has used so far, in ms; undefined without /proc. */
const cpuMs = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
};
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};

const base = process.env.BENCH_TMPDIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
const work = mkdtempSync(join(base, 'fsm-bench-incremental-'));
let child;
try {
  const { src, outDir } = makeProject(work, MACHINES);

  const full = [];
  for (let r = 0; r < FULL_RUNS; r++) {
    rmSync(outDir, { recursive: true, force: true });
    const started = performance.now();
    const run = spawnSync(process.execPath, cliArgs('generate'), { cwd: work, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`fsm generate failed:\n${run.stdout}\n${run.stderr}`);
    full.push(performance.now() - started);
  }

  child = spawn(process.execPath, cliArgs('generate', '--watch'), { cwd: work, stdio: ['ignore', 'pipe', 'inherit'] });
  let buffer = '';
  const waiting = [];
  child.stdout.on('data', (chunk) => {
    buffer += chunk.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      const at = performance.now();
      for (const w of waiting.splice(0)) w({ line, at });
    }
  });
  const nextLine = (test) =>
    new Promise((resolve) => {
      const wait = (l) => (test(l.line) ? resolve(l) : waiting.push(wait));
      waiting.push(wait);
    });
  await nextLine((l) => l.includes('watching for changes'));

  const latencies = [];
  const cpu = [];
  for (let k = 1; k <= EDITS; k++) {
    const cpuBefore = cpuMs(child.pid);
    const i = Math.floor(((k - 1) * MACHINES) / EDITS + MACHINES / (2 * EDITS)) % MACHINES;
    const done = nextLine((l) => l.startsWith('fsm generate: ') && l.includes(machineFileName(i)));
    const started = performance.now();
    writeFileSync(join(src, machineFileName(i)), machineSource(i, k));
    const { at, line } = await done;
    latencies.push(at - started);
    const cpuAfter = cpuMs(child.pid);
    if (cpuBefore !== undefined && cpuAfter !== undefined) cpu.push(cpuAfter - cpuBefore);
    const runner = readFileSync(join(outDir, `order_${String(i).padStart(4, '0')}.runner.ts`), 'utf8');
    if (!runner.includes(`maxAttempts: ${3 + k}`)) throw new Error(`edit ${k}: the runner of machine ${i} was not rewritten (${line})`);
    await sleep(PAUSE_MS);
  }
  child.kill('SIGINT');
  await new Promise((r) => child.on('exit', r));
  child = undefined;

  const median = quantile(latencies, 0.5);
  const p95 = quantile(latencies, 0.95);
  const fullMedian = quantile(full, 0.5);
  for (const k of latencies.keys()) if (k % 10 === 9) console.log(`edits ${k - 8}-${k + 1}: ${latencies.slice(k - 9, k + 1).map((x) => x.toFixed(0)).join(' ')} ms`);
  // The watch's own CPU per edit, which a loaded machine stretches less than the wall time.
  const cpuMedian = cpu.length ? quantile(cpu, 0.5) : undefined;
  console.log(`${MACHINES} machines, ${cliMode()}, ${EDITS} edits: median ${median.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms; watch CPU per edit: median ${cpuMedian ?? '-'} ms, mean ${cpu.length ? (cpu.reduce((a, b) => a + b, 0) / cpu.length).toFixed(0) : '-'} ms; full generate ${full.map((x) => (x / 1000).toFixed(2)).join(', ')} s`);
  console.log(
    JSON.stringify({
      bench: 'generate-incremental',
      metric: 'edit_to_output_ms_median',
      value: Number(median.toFixed(1)),
      baseline: 'full fsm generate of the same project',
      baselineValue: Number(fullMedian.toFixed(1)),
      ratio: Number((fullMedian / median).toFixed(2)),
      unit: 'ms',
      p95Ms: Number(p95.toFixed(1)),
      ...(cpuMedian !== undefined ? { cpuMsPerEditMedian: cpuMedian } : {}),
    }),
  );
} finally {
  child?.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
