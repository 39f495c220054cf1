import { MemorySink, MemoryStore } from '../src/index.js';
import { behaviourSuite, sinkEvents } from './support/behaviour-suite.js';
import { graphSuite } from './support/graph-suite.js';

behaviourSuite('memory', async () => {
  const sink = new MemorySink();
  const store = new MemoryStore({ sink });
  return {
    store,
    async corrupt(machine, id, text) {
      const rec = (await store.get(machine, id))!;
      await store.commit({ record: { ...rec, serializedState: text, version: rec.version + 1 }, expectedVersion: rec.version, history: [], events: [] });
    },
    committedEvents: async (id) => {
      await store.flush();
      return sinkEvents(sink)(id);
    },
    cleanup: async () => {},
  };
});

graphSuite('memory', async () => {
  const sink = new MemorySink();
  const store = new MemoryStore({ sink });
  return {
    store,
    corrupt: async () => undefined,
    committedEvents: async (id) => {
      await store.flush();
      return sinkEvents(sink)(id);
    },
    cleanup: async () => {},
  };
});
