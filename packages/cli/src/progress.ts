import { SingleBar } from 'cli-progress';
import type { GenerateProgress } from '@fsmkit/generator';

/** A run shorter than this shows no progress line. */
const QUIET_MS = 1000;
/** Updates closer together than this are not passed on: the bar redraws at most this often anyway. */
const UPDATE_MS = 50;

const STAGES: Record<GenerateProgress['stage'], string> = { read: 'reading sources', types: 'deriving data types', write: 'writing' };

/**
 * A progress line on a terminal for a run that lasts: nothing for the first second, then a bar
 * drawn by cli-progress on `stream`. Without a terminal (`stream` undefined) nothing is drawn.
 * `done()` clears the line before the run's own output.
 */
export function progressLine(stream: NodeJS.WriteStream | undefined): { update(p: GenerateProgress): void; done(): void } {
  const started = Date.now();
  let bar: SingleBar | undefined;
  let last = 0;
  let stage: GenerateProgress['stage'] | undefined;
  return {
    update(p) {
      if (!stream) return;
      const now = Date.now();
      if (now - started < QUIET_MS || (p.stage === stage && now - last < UPDATE_MS)) return;
      last = now;
      if (!bar) {
        bar = new SingleBar({ stream, format: 'fsm generate [{bar}] {stage} {value}/{total}', clearOnComplete: true, hideCursor: true });
        bar.start(p.total, p.done, { stage: STAGES[p.stage] });
      } else if (p.stage !== stage) bar.setTotal(p.total);
      stage = p.stage;
      bar.update(p.done, { stage: STAGES[p.stage] });
    },
    done() {
      bar?.stop();
      bar = undefined;
    },
  };
}
