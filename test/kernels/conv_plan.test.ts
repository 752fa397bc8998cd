// The conv kernels' tiling plans (kernels/conv_plan.ts), without a GPU: every plan covers its whole
// output exactly once per tile grid, stays within its register and workgroup limits, and the input
// gradient's phases reach exactly the (input, tap, dy) triples of the convolution's definition.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Conv2dShape } from '../../engine/index.js';
import {
  LANES,
  ROW_TILE_DEFAULT,
  type RowTileConfig,
  SUBGROUP_MIN_FLOPS,
  axisPhases,
  ROW_TILE_SUBGROUP_LARGE,
  backwardFilterConfig,
  backwardFilterConfigOf,
  backwardFilterPlan,
  backwardInputPlan,
  convFlops,
  convVariants,
  defaultConvVariant,
  rowTileConfig,
  rowTileConfigOf,
  rowTilePlan,
  tileHeight,
} from '../../kernels/conv_plan.js';

// The default variant's knobs, as the kernels get them without a tuner.
const rowTileConfigFor = (s: Conv2dShape, sg: number) => rowTileConfigOf(defaultConvVariant(s, sg), sg);
const backwardFilterConfigFor = (s: Conv2dShape, sg: number) => backwardFilterConfigOf(defaultConvVariant(s, sg), sg);

function shape(
  batch: number,
  C: number,
  H: number,
  W: number,
  O: number,
  KH: number,
  KW: number,
  S: number,
  P: number,
): Conv2dShape {
  const outHeight = Math.floor((H + 2 * P - KH) / S) + 1;
  const outWidth = Math.floor((W + 2 * P - KW) / S) + 1;
  return {
    batch,
    inChannels: C,
    inHeight: H,
    inWidth: W,
    outChannels: O,
    outHeight,
    outWidth,
    kernelHeight: KH,
    kernelWidth: KW,
    stride: S,
    padding: P,
  };
}

const CONFIGS: RowTileConfig[] = [
  ROW_TILE_DEFAULT,
  rowTileConfig(8),
  rowTileConfig(4),
  { tmMax: 16, tnMax: 4, accMax: 64, subgroup: 8 },
  rowTileConfigOf('subgroup-large', 8),
];

test('row-tile plan: tiles cover every row and pixel, within the register and workgroup limits', () => {
  for (const config of CONFIGS) {
    for (const rows of [1, 3, 4, 6, 12, 32, 64, 65]) {
      for (const [QH, QW] of [
        [1, 1],
        [26, 26],
        [10, 10],
        [7, 13],
        [28, 28],
        [3, 29],
      ]) {
        for (const batch of [1, 3, 128]) {
          const p = rowTilePlan(rows, batch, QH, QW, config);
          const what = `${JSON.stringify(config)} rows ${rows}, ${batch}x${QH}x${QW}`;
          assert.is(p.wx * p.wy, LANES, what);
          assert.ok(p.tm >= 1 && p.tm <= Math.min(rows, config.tmMax), what);
          assert.ok(p.tn >= 1 && p.tn <= config.tnMax, what);
          // Tiles cover the row, and none lies wholly outside it.
          assert.ok(p.tilesPerRow * p.tn >= QW && (p.tilesPerRow - 1) * p.tn < QW, what);
          assert.ok(p.tileRows * p.th >= QH && (p.tileRows - 1) * p.th < QH, what);
          assert.ok(p.th === 1 || p.tm * p.th * p.tn <= config.accMax, what);
          assert.is(p.tiles, batch * p.tileRows * p.tilesPerRow, what);
          assert.ok(p.workgroups[0] * p.wx >= p.tiles && (p.workgroups[0] - 1) * p.wx < p.tiles, what);
          assert.ok(p.workgroups[1] * p.wy * p.tm >= rows && (p.workgroups[1] - 1) * p.wy * p.tm < rows, what);
          // vec4 weight rows need whole groups of 4; a subgroup must share its rows (whole subgroups along x).
          assert.is(p.vecRows, p.tm % 4 === 0 && rows % 4 === 0, what);
          if (p.subgroup) assert.ok(p.vecRows && p.wx % p.subgroup === 0 && p.subgroup === config.subgroup, what);
          else assert.ok(!config.subgroup || !p.vecRows || p.wx % config.subgroup !== 0, what);
        }
      }
    }
  }
});

test('row-tile plan: the measured defaults at SmallCNN shapes', () => {
  // 26 pixels a row split evenly: 3 tiles of 9 without subgroups; with subgroups 8 rows × 2 × 6.
  const plain = rowTilePlan(32, 128, 26, 26, ROW_TILE_DEFAULT);
  assert.equal([plain.tm, plain.th, plain.tn, plain.tilesPerRow, plain.subgroup], [4, 1, 9, 3, 0]);
  const sg = rowTilePlan(32, 128, 26, 26, rowTileConfig(8));
  assert.equal(
    [sg.tm, sg.th, sg.tn, sg.tilesPerRow, sg.tileRows, sg.wx, sg.wy, sg.subgroup],
    [8, 2, 6, 5, 13, 16, 4, 8],
  );
  // A first layer's input gradient (one row): every lane on pixels, no weight sharing.
  const first = rowTilePlan(1, 128, 28, 28, rowTileConfig(8));
  assert.equal([first.tm, first.wx, first.wy, first.vecRows, first.subgroup], [1, 64, 1, false, 0]);
});

test('row-tile plan: the large variant at SmallCNN shapes, and tile heights that compute the fewest rows', () => {
  // 16 rows × 2 × 6 (the 24-pixel rows of the second conv), 16 × 2 × 5 on a 10 × 10 grid: not 3 rows
  // high, which would compute 12.
  const large = rowTileConfigOf('subgroup-large', 8);
  assert.equal(large, { ...ROW_TILE_SUBGROUP_LARGE, subgroup: 8 });
  const second = rowTilePlan(32, 128, 24, 24, large);
  assert.equal([second.tm, second.th, second.tn, second.tileRows, second.tilesPerRow], [16, 2, 6, 12, 4]);
  const third = rowTilePlan(64, 128, 10, 10, large);
  assert.equal([third.tm, third.th, third.tn, third.tileRows, third.tilesPerRow], [16, 2, 5, 5, 2]);
  // tileHeight(QH, most): from most down to half of it, the fewest computed rows, the tallest of those.
  assert.equal(
    [
      tileHeight(10, 3),
      tileHeight(12, 3),
      tileHeight(8, 3),
      tileHeight(13, 4),
      tileHeight(28, 16),
      tileHeight(26, 2),
      tileHeight(5, 1),
    ],
    [2, 3, 2, 2, 14, 2, 1],
  );
  for (let QH = 1; QH <= 40; QH++) {
    for (let most = 1; most <= 20; most++) {
      const th = tileHeight(QH, most);
      assert.ok(th <= most && th >= Math.ceil(most / 2), `${QH} ${most}: ${th}`);
      for (let t = Math.ceil(most / 2); t <= most; t++)
        assert.ok(
          th * Math.ceil(QH / th) <= t * Math.ceil(QH / t),
          `${QH} ${most}: ${th} computes more rows than ${t}`,
        );
    }
  }
});

test("conv variants: subgroup ones only with subgroups; large doubles the rows of both tiles, xl the weight gradient's again", () => {
  assert.equal(convVariants(0), ['plain']);
  assert.equal(convVariants(8), ['plain', 'subgroup', 'subgroup-large']);
  assert.equal(convVariants(8, 'filter'), ['plain', 'subgroup', 'subgroup-large', 'subgroup-xl']);
  assert.equal(convVariants(0, 'filter'), ['plain']);
  assert.equal(backwardFilterConfigOf('subgroup-xl', 8), { ...backwardFilterConfig(8), tmMax: 32 });
  assert.throws(() => rowTileConfigOf('subgroup-xl', 8), /row tile has no 'subgroup-xl'/);
  for (const v of ['plain', 'subgroup', 'subgroup-large'] as const) {
    assert.equal(rowTileConfigOf(v, 0), ROW_TILE_DEFAULT);
    assert.equal(backwardFilterConfigOf(v, 0), backwardFilterConfig(0));
  }
  assert.equal(rowTileConfigOf('subgroup', 8), rowTileConfig(8));
  assert.is(rowTileConfigOf('subgroup-large', 8).tmMax, 2 * rowTileConfig(8).tmMax);
  assert.equal(backwardFilterConfigOf('subgroup', 8), backwardFilterConfig(8));
  assert.equal(backwardFilterConfigOf('subgroup-large', 8), { ...backwardFilterConfig(8), tmMax: 16 });
  assert.equal(backwardFilterConfigOf('plain', 8), backwardFilterConfig(0));
});

test('the subgroup tiles are the default only for convs of SUBGROUP_MIN_FLOPS or more', () => {
  // SmallCNN's convs at batch 128 take the subgroup tiles; one image, or a test's small odd shape, the plain ones.
  for (const s of [
    shape(128, 1, 28, 28, 32, 3, 3, 1, 0),
    shape(128, 32, 26, 26, 32, 3, 3, 1, 0),
    shape(128, 64, 10, 10, 64, 3, 3, 1, 0),
  ]) {
    assert.ok(convFlops(s) >= SUBGROUP_MIN_FLOPS, JSON.stringify(s));
    assert.equal(rowTileConfigFor(s, 8), rowTileConfig(8));
    assert.equal(backwardFilterConfigFor(s, 8), backwardFilterConfig(8));
  }
  for (const s of [shape(1, 32, 26, 26, 32, 3, 3, 1, 0), shape(2, 9, 13, 11, 11, 3, 3, 1, 1)]) {
    assert.ok(convFlops(s) < SUBGROUP_MIN_FLOPS, JSON.stringify(s));
    assert.equal(rowTileConfigFor(s, 8), ROW_TILE_DEFAULT);
    assert.equal(backwardFilterConfigFor(s, 8), backwardFilterConfig(0));
  }
  // 2 FLOPs per multiply-add: a 1x1 conv of one pixel is 2.
  assert.is(convFlops(shape(1, 1, 1, 1, 1, 1, 1, 1, 0)), 2);
  // At 64x10x10 -> 64 (4,718,592 FLOPs an image) the threshold lies between batch 3 and 4.
  assert.equal(rowTileConfigFor(shape(4, 64, 10, 10, 64, 3, 3, 1, 0), 8), rowTileConfig(8));
  assert.equal(rowTileConfigFor(shape(3, 64, 10, 10, 64, 3, 3, 1, 0), 8), ROW_TILE_DEFAULT);
  // A device without subgroups runs the plain tiles at any size.
  assert.equal(rowTileConfigFor(shape(128, 64, 10, 10, 64, 3, 3, 1, 0), 0), ROW_TILE_DEFAULT);
  assert.equal(backwardFilterConfigFor(shape(128, 64, 10, 10, 64, 3, 3, 1, 0), 0), backwardFilterConfig(0));
});

test('row-tile plan: a dispatch too large for one grid is refused with the tile count', () => {
  assert.throws(() => rowTilePlan(8, 200_000, 28, 28, ROW_TILE_DEFAULT), /pixel tiles exceed one dispatch/);
});

test('input-gradient phases reach exactly the taps of the convolution, within the padded dy', () => {
  for (const [size, K, S, P] of [
    [5, 3, 1, 0],
    [28, 3, 1, 1],
    [13, 3, 2, 1],
    [12, 1, 2, 0],
    [11, 5, 3, 2],
    [7, 4, 2, 1],
    [9, 2, 4, 0],
    [3, 5, 1, 2],
  ]) {
    const out = Math.floor((size + 2 * P - K) / S) + 1;
    // The definition: input h gets tap k from dy position o where h = o·S − P + k.
    const expected = new Set<string>();
    for (let o = 0; o < out; o++)
      for (let k = 0; k < K; k++)
        if (o * S - P + k >= 0 && o * S - P + k < size) expected.add(`${o * S - P + k},${k},${o}`);
    const got = new Set<string>();
    const phases = axisPhases(size, K, S, P);
    assert.is(
      phases.reduce((n, ph) => n + ph.pixels, 0),
      size,
      `${size} ${K} ${S} ${P}: phases cover the axis`,
    );
    for (const ph of phases) {
      for (let a = 0; a < ph.pixels; a++) {
        for (let j = 0; j < ph.taps; j++) {
          const o = a + ph.base - j;
          // Out-of-range dy positions are the zeros of the padded copy.
          if (o >= 0 && o < out) got.add(`${ph.q + S * a},${ph.first + S * j},${o}`);
        }
      }
    }
    assert.equal([...got].sort(), [...expected].sort(), `${size} ${K} ${S} ${P}`);
  }
});

test('input-gradient plan: every dy read lies inside the padded copy', () => {
  for (const s of [
    shape(2, 3, 13, 11, 5, 3, 3, 2, 1),
    shape(1, 1, 28, 28, 32, 3, 3, 1, 0),
    shape(1, 2, 12, 12, 3, 1, 1, 2, 0),
    shape(1, 2, 11, 9, 3, 5, 4, 3, 2),
  ]) {
    const p = backwardInputPlan(s);
    assert.ok(p.PH >= s.outHeight + p.pad && p.PW >= s.outWidth + p.pad);
    for (const [used, size] of [
      [p.rowsUsed, p.PH],
      [p.colsUsed, p.PW],
    ] as const) {
      for (const ph of used) {
        // Positions a + base − j over a < pixels, j < taps, shifted by pad.
        assert.ok(p.pad + ph.base - (ph.taps - 1) >= 0, JSON.stringify(s));
        assert.ok(p.pad + ph.pixels - 1 + ph.base < size, JSON.stringify(s));
      }
    }
  }
  // 1x1 at stride 2: only phase (0, 0) has a tap.
  const p = backwardInputPlan(shape(1, 2, 12, 12, 3, 1, 1, 2, 0));
  assert.equal([p.rowPhases.length, p.rowsUsed.length, p.pad, p.PH], [2, 1, 0, 6]);
});

test('weight-gradient plan: split-K chunks cover the batch once; groups cover O × C', () => {
  for (const s of [
    shape(128, 1, 28, 28, 32, 3, 3, 1, 0),
    shape(128, 32, 26, 26, 32, 3, 3, 1, 0),
    shape(3, 9, 7, 7, 11, 3, 3, 2, 1),
    shape(1, 1, 5, 5, 1, 1, 1, 1, 0),
    shape(128, 512, 4, 4, 512, 3, 3, 1, 1),
  ]) {
    const p = backwardFilterPlan(s);
    const what = JSON.stringify(s);
    assert.ok(p.chunks * p.perChunk >= s.batch && (p.chunks - 1) * p.perChunk < s.batch, what);
    assert.ok(p.groupsX * p.wx >= s.inChannels && p.groupsY * p.wy * p.tm >= s.outChannels, what);
    assert.ok(p.wx * p.wy <= LANES && p.tw >= 1 && p.tw <= s.outWidth, what);
    // Many workgroups already: no split.
    if (p.groupsX * p.groupsY >= 64) assert.is(p.chunks, 1, what);
  }
  assert.is(backwardFilterPlan(shape(128, 1, 28, 28, 32, 3, 3, 1, 0), { tmMax: 4, twMax: 4, subgroup: 0 }).tw, 4);
  // With subgroups of 8: 8 out channels per invocation, a step of min(8, OW) columns; none below 8 lanes of channels.
  const sg = backwardFilterPlan(shape(128, 32, 12, 12, 64, 3, 3, 1, 0), { tmMax: 8, twMax: 8, subgroup: 8 });
  assert.equal([sg.subgroup, sg.tm, sg.tw, sg.wx], [8, 8, 8, 8]);
  assert.equal(
    [
      backwardFilterPlan(shape(2, 9, 6, 6, 5, 3, 3, 1, 0), { tmMax: 8, twMax: 8, subgroup: 8 }).tw,
      backwardFilterPlan(shape(2, 4, 9, 9, 5, 3, 3, 1, 0), { tmMax: 8, twMax: 8, subgroup: 8 }).subgroup,
    ],
    [4, 0],
  );
  // Fewer in channels than a subgroup's lanes (SmallCNN's first conv): the plain knobs, not the subgroup tile without its broadcasts.
  const first = backwardFilterPlan(shape(128, 1, 28, 28, 32, 3, 3, 1, 0), backwardFilterConfig(8));
  const plain = backwardFilterPlan(shape(128, 1, 28, 28, 32, 3, 3, 1, 0), backwardFilterConfig(0));
  assert.equal([first.subgroup, first.tm, first.tw], [0, 4, 1]);
  assert.equal(first, plain);
  // The partial sums of the split stay within the binding limit (SmallCNN's conv3 at a 1 MiB limit: at most 14 chunks of 72 KiB).
  const capped = backwardFilterPlan(
    shape(128, 32, 12, 12, 64, 3, 3, 1, 0),
    { tmMax: 8, twMax: 8, subgroup: 8 },
    2 ** 20,
  );
  assert.ok(capped.chunks * 64 * 32 * 9 * 4 <= 2 ** 20 && capped.chunks > 1, JSON.stringify(capped));
});

test.run();
