// Every op, in one import.

export * from './binary.js';
export * from './cast.js';
export * from './batchnorm.js';
export * from './conv.js';
export * from './conv_ascent.js';
export * from './creation.js';
export * from './elementwise.js';
export * from './linear.js';
export * from './matmul.js';
export * from './pool.js';
export * from './reduce.js';
export * from './shape_ops.js';
export * from './softmax.js';
export { sumTo } from './untaped.js';
