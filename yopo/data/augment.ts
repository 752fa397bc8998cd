// The standard CIFAR augmentation, on the host: pad each image with `pad` zero pixels on every
// side, take a random crop of the original size (so the image shifts by dy, dx in [-pad, pad]),
// then mirror it left-right with probability 1/2. Per-image randomness comes from the Random the
// caller passes, so a batch's augmentation is reproducible from that generator's seed.
// Pure typed-array code: no padded copy is materialised, each output pixel is read from its source.

import type { Random } from '../../engine/random.js';
import type { ImageShape } from './dataset.js';

/**
 * Transforms `count` NCHW images from `src` into `dst` (the same size; not the same array).
 * Implementations must draw from `rng` only, so that the result depends on the seed alone.
 */
export type Augmenter = (src: Float32Array, dst: Float32Array, count: number, shape: ImageShape, rng: Random) => void;

/**
 * One image: out[c, y, x] = in[c, y + dy, sx + dx] with sx = x (or w - 1 - x when flipped),
 * and 0 where that falls outside the image. Offsets are in elements.
 */
export function cropFlipImage(
  src: Float32Array,
  srcOffset: number,
  dst: Float32Array,
  dstOffset: number,
  shape: ImageShape,
  dy: number,
  dx: number,
  flip: boolean,
): void {
  const [channels, h, w] = shape;
  // Output columns whose source column lies inside the image: [lo, hi).
  const lo = flip ? Math.max(0, dx) : Math.max(0, -dx);
  const hi = flip ? Math.min(w, w + dx) : Math.min(w, w - dx);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      const out = dstOffset + (c * h + y) * w;
      const sy = y + dy;
      if (sy < 0 || sy >= h || lo >= hi) {
        dst.fill(0, out, out + w);
        continue;
      }
      const row = srcOffset + (c * h + sy) * w;
      for (let x = 0; x < lo; x++) dst[out + x] = 0;
      if (flip) {
        const base = row + w - 1 + dx; // source index of output column 0
        for (let x = lo; x < hi; x++) dst[out + x] = src[base - x];
      } else {
        const base = row + dx;
        for (let x = lo; x < hi; x++) dst[out + x] = src[base + x];
      }
      for (let x = hi; x < w; x++) dst[out + x] = 0;
    }
  }
}

/** Random crop with `pad`-pixel zero padding and (optionally) a random horizontal flip, per image. */
export function randomCropFlip(
  src: Float32Array,
  dst: Float32Array,
  count: number,
  shape: ImageShape,
  rng: Random,
  pad = 4,
  flip = true,
): void {
  if (src === dst || (src.buffer === dst.buffer && src.byteOffset === dst.byteOffset)) {
    throw new Error('randomCropFlip: src and dst must be different arrays (the transform is not in place)');
  }
  const size = shape[0] * shape[1] * shape[2];
  if (src.length < count * size || dst.length < count * size) {
    throw new Error(
      `randomCropFlip: ${count} images of ${size} values need ${count * size}, got src ${src.length}, dst ${dst.length}`,
    );
  }
  const span = 2 * pad + 1;
  for (let i = 0; i < count; i++) {
    // Fixed draw order per image (dy, dx, flip) keeps results stable across versions.
    const dy = rng.int(span) - pad;
    const dx = rng.int(span) - pad;
    const mirrored = flip && rng.next() < 0.5;
    cropFlipImage(src, i * size, dst, i * size, shape, dy, dx, mirrored);
  }
}

/** The CIFAR-10 recipe: 4-pixel padding, random crop, random horizontal flip. */
export const cifarAugment: Augmenter = (src, dst, count, shape, rng) =>
  randomCropFlip(src, dst, count, shape, rng, 4, true);
