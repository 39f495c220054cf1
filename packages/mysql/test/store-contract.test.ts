import { MemoryStore } from '@fsmkit/runtime';
import { storeContract } from './support/store-contract.js';

/** The memory twin of the contract run against MariaDB in store.int.test.ts. */
const store = new MemoryStore();
storeContract('memory', () => ({ store, machines: { paging: 'paging', prune: 'pruning', race: 'racing' } }));
