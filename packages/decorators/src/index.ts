export * from './model.js';
export * from './validate.js';
export type * from './context.js';
