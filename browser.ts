// yopo for browsers (`import ... from 'yopo/browser'`): everything that does not need a file system.
// The GPU comes from navigator.gpu; checkpoints and datasets are bytes (fetch, file inputs, downloads).
// No module reachable from here imports a Node built-in or Dawn's `webgpu` package
// (test/web/browser_entry.test.ts walks the import graph to keep it so).

// engine: tensors, ops, autodiff, scoped memory, the CPU reference backend
export * from './engine/index.js';
// engine/reference: the op harness and the finite-difference check, to test kernels in a browser too
export * from './engine/reference/compare.js';
export * from './engine/reference/gradient.js';
export * from './engine/reference/harness.js';
export {
  adapterName,
  describeAdapter,
  requestWebGPU,
  type AdapterDescription,
  type RequestDeviceOptions,
  type WebGPUHandle,
} from './kernels/webgpu/device.js';

// kernels: the WebGPU backend
export { WebGPUBackend } from './kernels/backend.js';
export { useWebGPU } from './kernels/use_webgpu.js';

// nn: layers, models, optimiser, schedules, checkpoints as bytes
export * from './nn/init.js';
export * from './nn/layers.js';
export * from './nn/models/index.js';
export { type HostTensor, Module } from './nn/module.js';
export * from './nn/schedule.js';
export { SGD, type SgdConfig } from './nn/sgd.js';
export * from './nn/safetensors_codec.js';
export * from './nn/model_bytes.js';
// the shipped pretrained models, fetched by URL
export * from './nn/pretrained.js';
export * from './nn/pretrained_fetch.js';

// yopo: methods, attacks, evaluation, the training loop
export * from './yopo/attacks/index.js';
export * from './yopo/counters.js';
export * from './yopo/defaults.js';
export * from './yopo/evaluate.js';
export * from './yopo/interval.js';
export * from './yopo/first_layer.js';
export * from './yopo/losses.js';
export type { Hyper, Method, StepOutput } from './yopo/method.js';
export { free } from './yopo/methods/free.js';
export { natural } from './yopo/methods/natural.js';
export { type PgdTrainingOptions, pgd } from './yopo/methods/pgd.js';
export { type TradesOptions, trades, tradesUpdate } from './yopo/methods/trades.js';
export { type TradesYopoOptions, tradesYopo } from './yopo/methods/trades_yopo.js';
export { type FirstLayerGradient, type YopoOptions, yopo } from './yopo/methods/yopo.js';
export * from './yopo/perturbation.js';
export * from './yopo/train.js';

// yopo/data: datasets from bytes (IDX plain or gzip, CIFAR-10 binary), batches, augmentation
export * from './yopo/data/augment.js';
export * from './yopo/data/batches.js';
export * from './yopo/data/cifar10_bytes.js';
export * from './yopo/data/dataset.js';
export * from './yopo/data/idx_bytes.js';

// report: the SVG charts of curve.svg
export * from './yopo/report/svg.js';
export { formatDuration } from './yopo/report/progress.js';
export type { MetricRecord } from './yopo/report/metrics.js';
