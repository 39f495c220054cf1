export * from './model.js';
export * from './validate.js';
export * from './graph.js';
export type * from './context.js';
export * from './decorators.js';
export * from './machine-model-of.js';
export * from './define-machine.js';
export type { AnyClass } from './metadata.js';
