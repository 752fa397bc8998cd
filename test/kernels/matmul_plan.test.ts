// The matmul tiling plans, on the CPU: every variant's grid covers the output exactly once per
// workgroup tile, stays within WebGPU's guaranteed limits, splits the tiled loads evenly over the
// invocations, and picks vec4 loads only where the layout allows them.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MatmulShape } from '../../engine/index.js';
import {
  MATMUL_VARIANTS,
  MAX_INVOCATIONS_PER_WORKGROUP,
  MAX_WORKGROUP_STORAGE_BYTES,
  defaultMatmulVariant,
  matmulPlan,
  matmulVariants,
} from '../../kernels/matmul_plan.js';

const shape = (batch: number, m: number, n: number, k: number, transA = false, transB = false): MatmulShape => ({
  batch,
  m,
  n,
  k,
  transA,
  transB,
});
const SHAPES = [
  shape(1, 1, 1, 1),
  shape(1, 7, 13, 5),
  shape(3, 65, 64, 17, true),
  shape(1, 128, 200, 1024, false, true),
  shape(4, 17, 3, 33, true, true),
];

test('plans: every variant covers the output with whole workgroup tiles, within WebGPU limits', () => {
  for (const s of SHAPES) {
    for (const variant of MATMUL_VARIANTS) {
      const p = matmulPlan(s, variant, 8);
      const [gx, gy, gz] = p.workgroups;
      assert.is(p.rowsPerWorkgroup, p.wy * p.tm);
      assert.is(p.colsPerWorkgroup, p.wx * p.tn);
      // Enough tiles to cover m and n, and not one more.
      assert.ok(gx * p.colsPerWorkgroup >= s.n && (gx - 1) * p.colsPerWorkgroup < s.n, `${variant} columns`);
      assert.ok(gy * p.rowsPerWorkgroup >= s.m && (gy - 1) * p.rowsPerWorkgroup < s.m, `${variant} rows`);
      assert.is(gz, s.batch);
      assert.ok(p.wx * p.wy <= MAX_INVOCATIONS_PER_WORKGROUP);
      if (p.kind === 'tiled') {
        assert.ok(p.sharedBytes <= MAX_WORKGROUP_STORAGE_BYTES, `${variant} workgroup memory`);
        // Loads split evenly: every invocation loads the same whole number of floats per tile.
        assert.ok(
          Number.isInteger(p.aLoadsPerInvocation) && Number.isInteger(p.bLoadsPerInvocation),
          `${variant} loads`,
        );
        assert.is(p.aLoadsPerInvocation * p.wx * p.wy, p.rowsPerWorkgroup * p.tileK);
        assert.is(p.tm, 4);
        assert.is(p.tn, 4);
      }
    }
  }
});

test('plans: the tiled variants are 16x16 invocations on 64x64 tiles and 8x8 on 32x32, 4x4 outputs each', () => {
  const s = shape(1, 100, 100, 100);
  const big = matmulPlan(s, 'tiled64', 0);
  const small = matmulPlan(s, 'tiled32', 0);
  assert.equal(
    [big.wx, big.wy, big.rowsPerWorkgroup, big.colsPerWorkgroup, big.workgroups],
    [16, 16, 64, 64, [2, 2, 1]],
  );
  assert.equal(
    [small.wx, small.wy, small.rowsPerWorkgroup, small.colsPerWorkgroup, small.workgroups],
    [8, 8, 32, 32, [4, 4, 1]],
  );
  // Tiles padded by one float per k-step; 16 k-steps each.
  assert.ok(big.kind === 'tiled' && small.kind === 'tiled');
  assert.equal([big.tileK, big.aTileStride, big.bTileStride, big.sharedBytes], [16, 65, 65, 2 * 65 * 16 * 4]);
  assert.equal([small.tileK, small.aTileStride, small.bTileStride, small.sharedBytes], [16, 33, 33, 2 * 33 * 16 * 4]);
});

test('plans: vec4 loads only along a contiguous axis whose size is a multiple of 4', () => {
  const load = (s: MatmulShape) => {
    const p = matmulPlan(s, 'register', 0);
    return p.kind === 'register' ? [p.aMode, p.bMode] : [];
  };
  assert.equal(load(shape(1, 8, 8, 8)), ['k4', 'mn4']);
  assert.equal(load(shape(1, 8, 8, 8, true, true)), ['mn4', 'k4']);
  assert.equal(load(shape(1, 7, 13, 5)), ['scalar', 'scalar']);
  assert.equal(load(shape(1, 7, 12, 5, true, false)), ['scalar', 'mn4']);
});

test('plans: the subgroup variant needs subgroups; the default is subgroup where there are, else register', () => {
  assert.equal(matmulVariants(0), ['register', 'tiled64', 'tiled32']);
  assert.equal(matmulVariants(8), ['subgroup', 'register', 'tiled64', 'tiled32']);
  assert.is(defaultMatmulVariant(8), 'subgroup');
  assert.is(defaultMatmulVariant(0), 'register');
  assert.throws(() => matmulPlan(shape(1, 4, 4, 4), 'subgroup', 0), /subgroup/);
  const p = matmulPlan(shape(1, 4, 4, 4), 'subgroup', 8);
  assert.equal([p.wx, p.wy, p.tm, p.tn], [16, 1, 16, 4]);
});

test('plans: a shape over the workgroup grid limit is refused with its shape named', () => {
  assert.throws(
    () => matmulPlan(shape(1, 1, 65535 * 32 + 1, 1), 'register', 0),
    /needs \d+ workgroups along one axis \(limit 65535\)/,
  );
});

test.run();
