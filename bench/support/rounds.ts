/**
 * Measures two sides of an in-process benchmark in alternating rounds, each by wall-clock rate
 * and by CPU time per step (`process.cpuUsage`): the CPU figure is what a busy, shared machine
 * disturbs least, so the ratio is taken from it; the median of many rounds, so that one noisy
 * round does not decide.
 */
export interface Side {
  name: string;
  /** Runs the workload once and returns how many steps it made. */
  run(): Promise<number>;
}

export interface SideFigures {
  name: string;
  /** Steps per wall-clock second, per round. */
  rates: number[];
  /** CPU microseconds per step, per round. */
  cpuPerStep: number[];
  medianRate: number;
  medianCpuPerStep: number;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function alternate(sides: [Side, Side], rounds: number): Promise<[SideFigures, SideFigures]> {
  const figures = sides.map((s) => ({ name: s.name, rates: [] as number[], cpuPerStep: [] as number[] }));
  for (const side of sides) await side.run(); // warm-up: JIT and caches on both sides
  for (let r = 0; r < rounds; r++) {
    // Alternate which side goes first, so that drifts in machine load hit both alike.
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    for (const i of order) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const steps = await sides[i]!.run();
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      figures[i]!.rates.push(steps / (wall / 1000));
      figures[i]!.cpuPerStep.push((cpu.user + cpu.system) / steps);
    }
  }
  return figures.map((f) => ({ ...f, medianRate: median(f.rates), medianCpuPerStep: median(f.cpuPerStep) })) as [SideFigures, SideFigures];
}

export function report(bench: string, baseline: string, ours: SideFigures, theirs: SideFigures): void {
  for (const f of [ours, theirs]) {
    console.log(
      `${f.name.padEnd(8)} steps/s per round: ${f.rates.map((v) => v.toFixed(0)).join(', ')}; ` +
        `CPU µs/step: ${f.cpuPerStep.map((v) => v.toFixed(2)).join(', ')}`,
    );
  }
  console.log(`wall-clock ratio (median steps/s): ${(ours.medianRate / theirs.medianRate).toFixed(3)}`);
  console.log(
    JSON.stringify({
      bench,
      metric: 'steps_per_cpu_s',
      value: Math.round(1e6 / ours.medianCpuPerStep),
      baseline,
      baselineValue: Math.round(1e6 / theirs.medianCpuPerStep),
      ratio: Number((theirs.medianCpuPerStep / ours.medianCpuPerStep).toFixed(3)),
      unit: 'steps per CPU second',
    }),
  );
}
