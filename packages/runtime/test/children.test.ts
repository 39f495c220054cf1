import { MemorySink, MemoryStore } from '../src/index.js';
import { sinkEvents } from './support/behaviour-suite.js';
import { childrenSuite } from './support/children-suite.js';

childrenSuite('memory', async () => {
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
