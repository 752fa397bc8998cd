// Small pieces of WGSL text that the unrolled kernel generators (matmul, conv2d, conv_ascent) share.

/** The components of a vec4, in order: `${value}.${VEC4_COMPONENTS[i]}` is its element i. */
export const VEC4_COMPONENTS = 'xyzw';

/**
 * The dot product Σ a[i]·b[i] of WGSL expressions as one expression of nested fmas, summed from the last
 * pair to the first: `fma(a0, b0, fma(a1, b1, a2 * b2))`. One expression per accumulator update, because
 * on lavapipe every write to a loop-carried variable costs a masked blend.
 */
export function fmaChain(pairs: readonly (readonly [string, string])[]): string {
  const [lastA, lastB] = pairs[pairs.length - 1];
  let sum = `${lastA} * ${lastB}`;
  for (let i = pairs.length - 2; i >= 0; i--) sum = `fma(${pairs[i][0]}, ${pairs[i][1]}, ${sum})`;
  return sum;
}
