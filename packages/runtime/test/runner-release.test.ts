import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createRunner, MemoryStore } from '../src/index.js';
import { machine } from './support/machines.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('a runner nobody holds', () => {
  it('is collected with its store once its drives are over', async () => {
    const refs = await (async () => {
      const store = new MemoryStore();
      const runner = createRunner(machine<{ n: number }>({ name: 'dropped' }, { a: { order: 1 }, b: { order: 2 } }, { a: () => undefined, b: () => undefined }), { store });
      expect((await runner.start({ n: 1 })).status).toBe('done');
      return { runner: new WeakRef(runner), store: new WeakRef(store) };
    })();
    // A WeakRef keeps its target until the current job is over.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(refs.runner.deref()).toBeUndefined();
    expect(refs.store.deref()).toBeUndefined();
  });
});
