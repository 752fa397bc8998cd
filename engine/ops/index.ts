// Every op, in one import. Loading this also gives the tape the few ops it needs for gradients.

import { setGradientHelpers } from '../tape.js';
import { add } from './binary.js';
import { onesLike, zerosLike } from './creation.js';

setGradientHelpers({ add, zerosLike, onesLike });

export * from './binary.js';
export * from './cast.js';
export * from './batchnorm.js';
export * from './conv.js';
export * from './conv_ascent.js';
export * from './creation.js';
export * from './elementwise.js';
export * from './matmul.js';
export * from './pool.js';
export * from './reduce.js';
export * from './shape_ops.js';
export * from './softmax.js';
