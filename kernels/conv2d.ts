// NCHW convolution with weights [out, in, kh, kw]: forward, backward-input and backward-filter.
// (First, simple direct version: one invocation per output element.)

import type { Conv2dShape } from '../engine/backend.js';
import type { Gpu, GpuBuffer } from '../engine/webgpu/gpu.js';
import { flatIndex, grid } from './wgsl.js';

export function conv2d(gpu: Gpu, x: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, s: Conv2dShape): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const total = B * O * OH * OW;
  const out = gpu.acquire(total * 4);
  if (total === 0) return out;
  const { workgroups, stride } = grid(total);
  const code = `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : ''}
${flatIndex(total, stride)}
  let j = i % ${OW}u;
  let ii = (i / ${OW}u) % ${OH}u;
  let o = (i / ${OW * OH}u) % ${O}u;
  let n = i / ${OW * OH * O}u;
  var acc = ${bias ? 'bias[o]' : '0.0'};
  for (var c = 0u; c < ${C}u; c++) {
    for (var kh = 0u; kh < ${KH}u; kh++) {
      let h = i32(ii * ${S}u + kh) - ${P};
      if (h < 0 || h >= ${H}) { continue; }
      for (var kw = 0u; kw < ${KW}u; kw++) {
        let v = i32(j * ${S}u + kw) - ${P};
        if (v < 0 || v >= ${W}) { continue; }
        acc += x[((n * ${C}u + c) * ${H}u + u32(h)) * ${W}u + u32(v)] * w[((o * ${C}u + c) * ${KH}u + kh) * ${KW}u + kw];
      }
    }
  }
  out[i] = acc;
}`;
  gpu.dispatch(gpu.pipeline('conv2d_direct', code), bias ? [x, w, out, bias] : [x, w, out], workgroups);
  return out;
}

export function conv2dBackwardInput(gpu: Gpu, dy: GpuBuffer, w: GpuBuffer, s: Conv2dShape): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const total = B * C * H * W;
  const out = gpu.acquire(total * 4);
  if (total === 0) return out;
  const { workgroups, stride } = grid(total);
  const code = `
@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${flatIndex(total, stride)}
  let v = i32(i % ${W}u);
  let h = i32((i / ${W}u) % ${H}u);
  let c = (i / ${W * H}u) % ${C}u;
  let n = i / ${W * H * C}u;
  var acc = 0.0;
  for (var o = 0u; o < ${O}u; o++) {
    for (var kh = 0; kh < ${KH}; kh++) {
      let th = h + ${P} - kh;
      if (th < 0 || th % ${S} != 0) { continue; }
      let oi = th / ${S};
      if (oi >= ${OH}) { continue; }
      for (var kw = 0; kw < ${KW}; kw++) {
        let tw = v + ${P} - kw;
        if (tw < 0 || tw % ${S} != 0) { continue; }
        let oj = tw / ${S};
        if (oj >= ${OW}) { continue; }
        acc += dy[((n * ${O}u + o) * ${OH}u + u32(oi)) * ${OW}u + u32(oj)] * w[((o * ${C}u + c) * ${KH}u + u32(kh)) * ${KW}u + u32(kw)];
      }
    }
  }
  out[i] = acc;
}`;
  gpu.dispatch(gpu.pipeline('conv2d_bwd_input_direct', code), [dy, w, out], workgroups);
  return out;
}

export function conv2dBackwardFilter(gpu: Gpu, x: GpuBuffer, dy: GpuBuffer, s: Conv2dShape): GpuBuffer {
  const { batch: B, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW, kernelHeight: KH, kernelWidth: KW, stride: S, padding: P } = s;
  const total = O * C * KH * KW;
  const out = gpu.acquire(total * 4);
  if (total === 0) return out;
  const { workgroups, stride } = grid(total);
  const code = `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${flatIndex(total, stride)}
  let kw = i % ${KW}u;
  let kh = (i / ${KW}u) % ${KH}u;
  let c = (i / ${KW * KH}u) % ${C}u;
  let o = i / ${KW * KH * C}u;
  var acc = 0.0;
  for (var n = 0u; n < ${B}u; n++) {
    for (var oi = 0u; oi < ${OH}u; oi++) {
      let h = i32(oi * ${S}u + kh) - ${P};
      if (h < 0 || h >= ${H}) { continue; }
      for (var oj = 0u; oj < ${OW}u; oj++) {
        let v = i32(oj * ${S}u + kw) - ${P};
        if (v < 0 || v >= ${W}) { continue; }
        acc += dy[((n * ${O}u + o) * ${OH}u + oi) * ${OW}u + oj] * x[((n * ${C}u + c) * ${H}u + u32(h)) * ${W}u + u32(v)];
      }
    }
  }
  out[i] = acc;
}`;
  gpu.dispatch(gpu.pipeline('conv2d_bwd_filter_direct', code), [x, dy, out], workgroups);
  return out;
}
