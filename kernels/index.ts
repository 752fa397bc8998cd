// The WebGPU backend and how to select it. This is the Node entry's view: importing it registers
// Dawn's GPU (the browser entry uses use_webgpu.ts directly and gets navigator.gpu).

import '../engine/webgpu/dawn.js';

export { WebGPUBackend } from './backend.js';
export { useWebGPU } from './use_webgpu.js';
