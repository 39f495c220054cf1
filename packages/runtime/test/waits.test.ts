import { MemoryStore } from '../src/index.js';
import { waitsSuite } from './support/waits-suite.js';

waitsSuite('memory', async () => ({
  store: new MemoryStore(),
  corrupt: async () => undefined,
  committedEvents: async () => [],
  cleanup: async () => {},
}));
