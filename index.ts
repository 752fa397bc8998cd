// yopo: fast adversarial training on WebGPU. One import for the whole library.

export * from './engine/index.js';
export * from './kernels/index.js';
export * from './nn/index.js';
export * from './yopo/index.js';
