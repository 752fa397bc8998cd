// The WebGPU backend and how to select it. This is the Node entry's view: importing it registers
// Dawn's GPU (the browser entry uses use_webgpu.ts directly and gets navigator.gpu), the files
// where kernel tuning choices persist, and the index of programs already in Mesa's shader cache.

import './webgpu/dawn.js';
import './tune_file_store.js';
import './compiled_index_file.js';

export { WebGPUBackend } from './backend.js';
export { useWebGPU } from './use_webgpu.js';
export { type TuneChoice, type TuneMode, type TunableOp, Tuner, tunerOf } from './tune.js';
