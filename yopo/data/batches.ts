// Seeded mini-batches. Everything random is derived from (seed, epoch) for the order and from
// (seed, epoch, batch index) for augmentation, never from state carried between batches, so:
//   - the same seed gives the same batches on every run and backend, and
//   - a run resumed at batch k of epoch e sees exactly the batches it would have seen had it
//     never stopped, without replaying anything before them (`batch(e, k)` is random access).
//
// Buffer contract: each Batch's `images` and `labels` belong to the caller and are never written
// again by the loader, however many batches follow. A caller that is done with a batch (e.g. after
// uploading it to the GPU) may hand it back with `recycle(batch)`; only then are its arrays reused.

import { Random } from '../../engine/random.js';
import { type Augmenter, cifarAugment } from './augment.js';
import { type Dataset, imageSize } from './dataset.js';

/** One mini-batch: images [count, C, H, W] (NCHW, in [0, 1]) and int32 labels [count]; owned by the caller until recycled. */
export interface Batch {
  /** count × C×H×W pixels, NCHW. */
  images: Float32Array;
  labels: Int32Array;
  /** Examples in this batch: batchSize, or fewer for the last one when dropLast is off. */
  count: number;
  /** Position of the batch within its epoch, 0-based. */
  index: number;
}

/** Options of a BatchLoader: batch size, per-epoch shuffling from seed, dropLast, augmentation. */
export interface BatchOptions {
  batchSize: number;
  /** Shuffle the examples each epoch (a new order per epoch); off: dataset order. */
  shuffle: boolean;
  seed: number;
  /** Skip the last, smaller batch (default false). */
  dropLast?: boolean;
  /** `true` for the CIFAR crop-and-flip, or any Augmenter; default none. */
  augment?: boolean | Augmenter;
}

// Salts keep the order stream and the augmentation streams apart for the same (seed, epoch).
const ORDER_STREAM = 1;
const AUGMENT_STREAM = 2;

/** Mixes one 32-bit word into a hash (the murmur3 finaliser), so nearby inputs give unrelated seeds. */
function mix(hash: number, word: number): number {
  let h = Math.imul(hash ^ word, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit seed for the stream named by `parts` under a run seed (which may exceed 32 bits). */
export function streamSeed(seed: number, ...parts: number[]): number {
  let h = mix(0x2545f491, seed >>> 0);
  h = mix(h, Math.floor(seed / 4294967296) >>> 0);
  for (const p of parts) h = mix(h, p >>> 0);
  return h;
}

/** Seeded mini-batches of a dataset with random access: batch(epoch, index) depends only on (seed, epoch, index); recycle(batch) lets the loader reuse a batch's arrays. */
export class BatchLoader {
  readonly dataset: Dataset;
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  private readonly shuffle: boolean;
  private readonly seed: number;
  private readonly augment: Augmenter | null;
  private readonly imageSize: number;
  // The last epoch's order, since consecutive batches share it.
  private orderEpoch = -1;
  private orderCache: Int32Array | null = null;
  // Gathered, not yet augmented pixels: internal only, never handed out.
  private scratch: Float32Array | null = null;
  // Full-size arrays the caller gave back through recycle().
  private readonly pool: { images: Float32Array; labels: Int32Array }[] = [];

  constructor(dataset: Dataset, options: BatchOptions) {
    const { batchSize, seed } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new Error(`BatchLoader: batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isFinite(seed)) throw new Error(`BatchLoader: seed must be a finite number, got ${seed}`);
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = options.shuffle;
    this.seed = Math.floor(seed);
    this.augment = options.augment === true ? cifarAugment : options.augment || null;
    this.imageSize = imageSize(dataset.shape);
    const n = dataset.count;
    this.batchesPerEpoch = options.dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
    if (this.batchesPerEpoch === 0) {
      throw new Error(
        n === 0
          ? `BatchLoader: dataset '${dataset.name}' is empty`
          : `BatchLoader: dataset '${dataset.name}' has ${n} examples, fewer than one batch of ${batchSize} (dropLast is on)`,
      );
    }
  }

  /** The example order of an epoch (a permutation, or 0..n-1 without shuffling). Do not modify. */
  order(epoch: number): Int32Array {
    checkIndex('epoch', epoch, Infinity);
    if (this.orderEpoch === epoch && this.orderCache) return this.orderCache;
    const order = new Int32Array(this.dataset.count);
    for (let i = 0; i < order.length; i++) order[i] = i;
    if (this.shuffle) new Random(streamSeed(this.seed, ORDER_STREAM, epoch)).shuffle(order);
    this.orderEpoch = epoch;
    this.orderCache = order;
    return order;
  }

  /** Batch `index` of `epoch`, computed directly (no need to have produced the batches before it). */
  batch(epoch: number, index: number): Batch {
    checkIndex('batch index', index, this.batchesPerEpoch);
    const order = this.order(epoch);
    const start = index * this.batchSize;
    const count = Math.min(this.batchSize, this.dataset.count - start);
    const size = this.imageSize;
    const { images, labels } = this.outputArrays(count);

    // Without augmentation, gather straight into the output; with it, gather into scratch first.
    const gathered = this.augment ? (this.scratch ??= new Float32Array(this.batchSize * size)) : images;
    const source = this.dataset.images;
    for (let i = 0; i < count; i++) {
      const j = order[start + i];
      gathered.set(source.subarray(j * size, (j + 1) * size), i * size);
      labels[i] = this.dataset.labels[j];
    }
    if (this.augment) {
      const rng = new Random(streamSeed(this.seed, AUGMENT_STREAM, epoch, index));
      this.augment(gathered, images, count, this.dataset.shape, rng);
    }
    return { images, labels, count, index };
  }

  /** The batches of an epoch in order, from batch `start` (to resume mid-epoch). */
  *epochBatches(epoch: number, start = 0): Generator<Batch> {
    if (start !== this.batchesPerEpoch) checkIndex('start batch', start, this.batchesPerEpoch);
    for (let k = start; k < this.batchesPerEpoch; k++) yield this.batch(epoch, k);
  }

  /**
   * Hands a batch's arrays back for reuse by a later batch. Only call this once the caller (and
   * anything it passed them to) no longer reads them; the batch must not be used afterwards.
   */
  recycle(batch: Batch): void {
    const full = this.batchSize;
    if (batch.images.length !== full * this.imageSize || batch.labels.length !== full) return; // a short last batch
    if (this.pool.some((p) => p.images === batch.images || p.labels === batch.labels)) return; // recycled twice
    if (this.pool.length < 4) this.pool.push({ images: batch.images, labels: batch.labels });
  }

  private outputArrays(count: number): { images: Float32Array; labels: Int32Array } {
    if (count === this.batchSize) {
      const reused = this.pool.pop();
      if (reused) return reused;
    }
    return { images: new Float32Array(count * this.imageSize), labels: new Int32Array(count) };
  }
}

function checkIndex(what: string, value: number, limit: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= limit) {
    const range = limit === Infinity ? 'a non-negative integer' : `an integer in [0, ${limit})`;
    throw new Error(`BatchLoader: ${what} must be ${range}, got ${value}`);
  }
}
