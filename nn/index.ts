// Layers, the paper's models, the optimiser, schedules and checkpoints.

export * from './layers.js';
export * from './models/index.js';
export { type HostTensor, Module } from './module.js';
export * from './schedule.js';
export { SGD, type SgdConfig } from './sgd.js';
export * from './init.js';
export * from './checkpoint.js';
export * from './safetensors.js';
export * from './model_bytes.js';
export * from './pretrained.js';
export * from './pretrained_files.js';
export { writeFileAtomic, writeFileAtomicSync } from './atomic_write.js';
