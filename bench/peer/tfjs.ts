// TensorFlow.js's WebGPU backend as a benchmark peer, in the same Node process and on the same Dawn
// adapter as our own kernels (ideally on the very same GPUDevice).
//
// It runs in Node on Dawn (tfjs-core / tfjs-backend-webgpu 4.22.0, webgpu 0.6.2, Mesa lavapipe); no
// browser needed. What it takes (see tfjs-gpu.ts):
// - `navigator.gpu` must exist: WebGPUBackend's constructor and the package's import-time
//   registration check it. Node 20 has no `navigator`, so we define one holding Dawn's GPU.
// - GPUBufferUsage / GPUMapMode must be globals: they come from the `webgpu` module's `globals`.
// - The kernels are registered under the backend name 'webgpu', so our backend must take that name:
//   we remove the factory the package registered on import and register one returning a
//   WebGPUBackend built on the device we choose (`new WebGPUBackend(device, adapterInfo)`).
// - Gradients: tfjs-core's bundles register none; importing the @tensorflow/tfjs union package does.
// - Nothing else (document, OffscreenCanvas) is touched, except by synchronous reads: dataSync() /
//   arraySync() throw 'OffscreenCanvas is not defined' in Node, so only async data() works (we sync
//   with onSubmittedWorkDone and read nothing back anyway).
// Sharing one GPUDevice with our engine works: WebGPUBackend.dispose() frees its own buffers and
// never destroys the device. tfjs's flags stay at their defaults (what users of TF.js get), e.g.
// WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE=true, so conv2d backprop-input uses tfjs's direct kernel.
//
// The tfjs engine is a process-wide singleton: one peer at a time; creating a new one disposes the
// previous one.

import type * as Tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { waitForDevice } from '../../kernels/webgpu/device.js';
import { adapterLabel, ensureNavigatorGpu, requestTfjsDevice } from './tfjs-gpu.js';
import { createSmallCnnStep } from './tfjs-small-cnn.js';
import { timeMedian, type PeerTiming, type TimingOptions } from './timing.js';

export type { PeerTiming, TimingOptions } from './timing.js';

/** NCHW semantics, square kernel, symmetric zero padding. The peer runs it as NHWC (tfjs's native layout). */
export interface ConvShape {
  batch: number;
  inChannels: number;
  outChannels: number;
  height: number;
  width: number;
  kernel: number;
  stride: number;
  padding: number;
}

export type ConvKind = 'forward' | 'backward-input' | 'backward-filter';

export interface TfjsPeer {
  /** e.g. 'TensorFlow.js 4.22.0 webgpu backend on llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)'. */
  readonly description: string;
  /** True when the peer runs on the GPUDevice handed to createTfjsPeer. */
  readonly sharesDevice: boolean;
  /** n x n @ n x n, float32. */
  matmul(n: number): Promise<PeerTiming>;
  conv2d(s: ConvShape, kind: ConvKind): Promise<PeerTiming>;
  /** One SmallCNN SGD step (forward, backward, momentum update) on a batch of random MNIST-sized inputs. */
  smallCnnStep(batch: number): Promise<PeerTiming>;
  dispose(): void;
}

type TfModule = typeof Tf;

let current: { dispose(): void } | null = null;

/** Starts TF.js's WebGPU backend on `device` if given, else on a device of its own (same adapter choice as ours). */
export async function createTfjsPeer(device?: GPUDevice, timing: TimingOptions = {}): Promise<TfjsPeer> {
  try {
    return await startPeer(device, timing);
  } catch (error) {
    throw new Error(`TensorFlow.js WebGPU backend could not start: ${(error as Error).message}`, { cause: error });
  }
}

async function startPeer(given: GPUDevice | undefined, timing: TimingOptions): Promise<TfjsPeer> {
  current?.dispose();
  // The globals must exist before tfjs-backend-webgpu is imported (it checks at import time too).
  const gpu = await ensureNavigatorGpu();
  const tf = await importPeer<TfModule>('@tensorflow/tfjs-core');
  // tfjs-core's bundles hold no gradient functions (tf.grads would fail with "gradient function not
  // found for RealDiv"); the @tensorflow/tfjs union package registers them all, on import.
  await importPeer('@tensorflow/tfjs');
  const { WebGPUBackend } = await importPeer<typeof import('@tensorflow/tfjs-backend-webgpu')>(
    '@tensorflow/tfjs-backend-webgpu',
  );

  const device = given ?? (await requestTfjsDevice(gpu));
  const backend = new WebGPUBackend(device, device.adapterInfo);
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => backend);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") failed (see the warning above)');
  await tf.ready();

  const peer = new Peer(
    tf,
    backend,
    `TensorFlow.js ${tf.version_core} webgpu backend on ${adapterLabel(device)}`,
    given !== undefined,
    timing,
  );
  current = peer;
  return peer;
}

async function importPeer<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    throw new Error(`cannot load ${name} (a devDependency: run 'npm install'): ${(error as Error).message}`);
  }
}

class Peer implements TfjsPeer {
  private disposed = false;

  constructor(
    private readonly tf: TfModule,
    private readonly backend: WebGPUBackend,
    readonly description: string,
    readonly sharesDevice: boolean,
    private readonly timing: TimingOptions,
  ) {}

  async matmul(n: number): Promise<PeerTiming> {
    const { tf } = this;
    const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
    const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
    try {
      return await this.time(() => tf.matMul(a, b));
    } finally {
      tf.dispose([a, b]);
    }
  }

  async conv2d(s: ConvShape, kind: ConvKind): Promise<PeerTiming> {
    const { tf } = this;
    const outH = Math.floor((s.height + 2 * s.padding - s.kernel) / s.stride) + 1;
    const outW = Math.floor((s.width + 2 * s.padding - s.kernel) / s.stride) + 1;
    if (outH < 1 || outW < 1) throw new Error(`conv2d: the kernel does not fit the input (${JSON.stringify(s)})`);
    const xShape: [number, number, number, number] = [s.batch, s.height, s.width, s.inChannels];
    const wShape: [number, number, number, number] = [s.kernel, s.kernel, s.inChannels, s.outChannels];
    const x = tf.randomNormal(xShape, 0, 1, 'float32', 1) as Tf.Tensor4D;
    const w = tf.randomNormal(wShape, 0, 1, 'float32', 2) as Tf.Tensor4D;
    const dy = tf.randomNormal([s.batch, outH, outW, s.outChannels], 0, 1, 'float32', 3);
    // The backward kernels are not public ops in tfjs-core 4.x; runKernel calls exactly what
    // tf.grad(conv2d) would.
    const attrs = { strides: [s.stride, s.stride], pad: s.padding, dataFormat: 'NHWC' };
    const call = {
      forward: () => tf.conv2d(x, w, s.stride, s.padding, 'NHWC'),
      'backward-input': () =>
        tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: w }, { ...attrs, inputShape: xShape }),
      'backward-filter': () =>
        tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape: wShape }),
    }[kind];
    if (!call) throw new Error(`conv2d: unknown kind '${kind}'`);
    try {
      return await this.time(call);
    } finally {
      tf.dispose([x, w, dy]);
    }
  }

  async smallCnnStep(batch: number): Promise<PeerTiming> {
    const net = createSmallCnnStep(this.tf, batch);
    try {
      return await this.time(() => net.step());
    } finally {
      net.dispose();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (current === this) current = null;
    // Disposes the backend's buffers (not the device) and leaves tfjs with no active backend.
    if (this.tf.findBackendFactory('webgpu')) this.tf.removeBackend('webgpu');
  }

  /** Times `record` (which only records GPU work; its tensors are disposed), each call ending in a GPU sync. */
  private async time(record: () => unknown): Promise<PeerTiming> {
    if (this.disposed) throw new Error('this TensorFlow.js peer was disposed');
    const call = async () => {
      this.tf.tidy(() => void record());
      await this.sync();
    };
    // A WebGPU validation error voids tfjs's whole batched command buffer and only logs: the call
    // would look fast and compute nothing. Check once, outside the timed region.
    const device = this.backend.device;
    device.pushErrorScope('validation');
    await call();
    const error = await device.popErrorScope();
    if (error) throw new Error(`TensorFlow.js WebGPU backend produced invalid GPU work: ${error.message}`);
    return timeMedian(call, this.timing);
  }

  /** Submits what tfjs has batched (it defers submits) and waits for the GPU: no readback, no extra kernel.
   *  It waits as our own kernels do (waitForDevice: in Node, without spinning on Dawn's polling, which
   *  would take a core from lavapipe), so both sides of a comparison wait alike. */
  private async sync(): Promise<void> {
    const b = this.backend;
    b.ensureCommandEncoderReady();
    b.endComputePassEncoder();
    b.submitQueue();
    await waitForDevice(b.queue.onSubmittedWorkDone());
  }
}
