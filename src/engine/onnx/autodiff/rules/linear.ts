/**
 * Projections of the decoder as composites: a frozen weight stored compressed, and a LoRA
 * adapter merged into its weight. Weight and bias are frozen here: they never get a gradient.
 */
import type { GraphBuilder } from '../../builder.js';
import type { Value } from '../../graph.js';
import type { CompositeRule } from '../rule.js';

export const FROZEN_LINEAR = 'FrozenLinear';
export const MERGED_LORA_LINEAR = 'MergedLoraLinear';
export const COMPRESSED_LINEAR = 'CompressedLinear';

/**
 * y = x W^T + bias against a frozen weight W [out, in]. When `expandAgain` is given (W is a
 * compressed weight expanded in the graph), the input gradient dx = dy W reads a fresh expansion
 * built in the backward pass, so the expanded copy of every layer does not stay alive from the
 * forward to the backward pass.
 */
export function frozenLinear(g: GraphBuilder, x: Value, w: Value, bias: Value | undefined, expandAgain: (() => Value) | undefined, name: string): Value {
  const y = g.gemm(x, w, { transB: true, c: bias }, name);
  if (!expandAgain) return y;
  return g.composite(y, [x], (gb, dy) => [gb.gemm(dy, expandAgain(), {}, 'dx')], FROZEN_LINEAR);
}

/**
 * y = x W^T (+ bias) computed by `forward` from a compressed frozen W (integer kernels that have
 * no gradient rule: MatMulNBits, MatMulInteger after quantizing x), with the input gradient
 * dx = dy W from `backward` (built in the backward pass). Without `backward` (inference) the
 * product is left as it is.
 */
export function compressedLinear(g: GraphBuilder, x: Value, forward: (x: Value) => Value, backward?: (gb: GraphBuilder, dy: Value) => Value): Value {
  const y = forward(x);
  if (!backward) return y;
  return g.composite(y, [x], (gb, dy, needs) => [needs(0) ? backward(gb, dy) : null], COMPRESSED_LINEAR);
}

/**
 * y = x (W + s B A)^T + bias as one GEMM against the merged weight, with a fused gradient:
 *   dx = dy W'   dB = s dy^T (x A^T)   dA = s (dy B)^T x
 * W' is recomputed in backward (written differently, so the optimizer does not fold it into the
 * forward copy and keep a second copy of the weights alive through the backward pass), and x A^T
 * is recomputed too: only x is kept. W and bias are frozen and get no gradient.
 */
export function mergedLoraLinear(g: GraphBuilder, x: Value, w: Value, bias: Value | undefined, a: Value, b: Value, s: number, name: string): Value {
  const merged = g.gemm(b, a, { c: w, alpha: s }, `${name}_merged`); // [out, in]
  const y = g.gemm(x, merged, { transB: true, c: bias }, name);
  return g.composite(y, [x, a, b], (gb, dy, needs) => {
    const again = gb.add(w, gb.mul(gb.matMul(b, a, 'ba'), gb.scalar(s, w.dtype), 'ba_scaled'), 'merged');
    const dx = needs(0) ? gb.gemm(dy, again, {}, 'dx') : null;
    const dB = needs(2) ? gb.gemm(dy, gb.gemm(x, a, { transB: true }, 'xa'), { transA: true, alpha: s }, 'db') : null;
    const dA = needs(1) ? gb.gemm(gb.gemm(dy, b, {}, 'dyb'), x, { transA: true, alpha: s }, 'da') : null;
    return [dx, dA, dB];
  }, MERGED_LORA_LINEAR);
}

/** A fixed pseudo-random frozen tensor for the cases (weights are constants of the graph). */
function frozen(g: GraphBuilder, dims: number[], dtype: Value['dtype'], seed: number, name: string): Value {
  const n = dims.reduce((p, d) => p * d, 1);
  return g.constant(dtype, dims, Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.7) * 0.8), name);
}

export const linearComposites: CompositeRule[] = [
  {
    name: FROZEN_LINEAR,
    // x [N=4, in=5] against W [out=3, in] with a bias; the "expanded again" weight is W rebuilt.
    emitForward: (g, [x]) => {
      const w = frozen(g, [3, 5], x.dtype, 1, 'w');
      return frozenLinear(g, x, w, frozen(g, [3], x.dtype, 2, 'bias'), () => g.identity(w, 'w_again'), 'proj');
    },
    cases: [{ shapes: [[4, 5]] }, { label: 'symbolic rows', shapes: [[2, 5]], dims: [['n', 5]] }],
  },
  {
    name: COMPRESSED_LINEAR,
    // x [N=4, in=5] against W [out=3, in]: forward and input gradient as separate products (the
    // real ones run integer kernels, float32 only; their agreement with F32 is tested in
    // tests/engine/models/compressed-compute.test.ts).
    emitForward: (g, [x]) => {
      const w = frozen(g, [3, 5], x.dtype, 6, 'w');
      const bias = frozen(g, [3], x.dtype, 7, 'bias');
      return compressedLinear(g, x, (xin) => g.gemm(xin, w, { transB: true, c: bias }, 'proj'), (gb, dy) => gb.gemm(dy, gb.identity(w, 'w_again'), {}, 'dx'));
    },
    cases: [{ shapes: [[4, 5]] }, { label: 'symbolic rows', shapes: [[2, 5]], dims: [['n', 5]] }],
  },
  {
    name: MERGED_LORA_LINEAR,
    // x [N=4, in=5], A [r=2, in], B [out=3, r]; W [out, in] and bias frozen; s = 1.5.
    emitForward: (g, [x, a, b]) => mergedLoraLinear(g, x, frozen(g, [3, 5], x.dtype, 3, 'w'), frozen(g, [3], x.dtype, 4, 'bias'), a, b, 1.5, 'proj'),
    cases: [
      { shapes: [[4, 5], [2, 5], [3, 2]] },
      { label: 'no bias, symbolic rows', shapes: [[3, 5], [2, 5], [3, 2]], dims: [['n', 5], [2, 5], [3, 2]], emit: (g, [x, a, b]) => mergedLoraLinear(g, x, frozen(g, [3, 5], x.dtype, 5, 'w'), undefined, a, b, 0.5, 'proj') },
    ],
  },
];
