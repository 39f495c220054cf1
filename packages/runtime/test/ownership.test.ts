import { MemoryLocker, MemoryStore } from '../src/index.js';
import { ownershipSuite } from './support/ownership-suite.js';

ownershipSuite('memory', async () => ({ store: new MemoryStore(), locker: new MemoryLocker(), cleanup: async () => undefined }));
