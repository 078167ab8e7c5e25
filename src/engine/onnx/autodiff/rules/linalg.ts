/**
 * MatMul and Gemm. Gradients use Gemm's trans flags (2-D) rather than explicit Transposes where
 * they can (PERF-NOTES: explicit transposes cost ~20%); batched MatMul transposes the last two
 * axes and leaves fusion to ORT. Broadcast batch dims are reduced by the driver.
 */
import type { GraphBuilder } from '../../builder.js';
import type { Value } from '../../graph.js';
import { flattenLead, rank, reshapeLike, transposeLast2, type GradRule } from '../rule.js';

export const linalgRules: GradRule[] = [
  // Y[..., m, n] = A[..., m, k] @ B[..., k, n]   (batch dims broadcast)
  //   dA = dY @ Bᵀ,  dB = Aᵀ @ dY
  {
    name: 'MatMul',
    vjp: ({ g, inputs: [a, b], dy, needs }) => [needs(0) ? matMulDa(g, dy, a!, b!) : null, needs(1) ? matMulDb(g, a!, b!, dy) : null],
    emitForward: (g, [a, b]) => g.matMul(a, b),
    cases: [
      { label: '2d', shapes: [[3, 4], [4, 5]] },
      { label: 'batched x 2d weight', shapes: [[2, 3, 4], [4, 5]] },
      { label: 'symbolic batch x 2d weight', shapes: [[2, 3, 4], [4, 5]], dims: [['b', 't', 4], [4, 5]] },
      { label: '2d x batched', shapes: [[3, 4], [2, 4, 5]] },
      { label: 'batched both', shapes: [[2, 3, 4], [2, 4, 5]] },
      { label: 'broadcast batch', shapes: [[2, 1, 3, 4], [3, 4, 2]] },
    ],
  },
  // Y = alpha op(A) op(B) + beta C
  {
    name: 'Gemm',
    vjp: (ctx) => {
      const { g, inputs, dy, needs } = ctx;
      const [a, b, c] = inputs as [Value, Value, Value | null];
      const transA = ctx.attrInt('transA', 0) === 1;
      const transB = ctx.attrInt('transB', 0) === 1;
      // alpha and beta are float32 attributes: the forward used their float32 values.
      const alpha = Math.fround(ctx.attrFloat('alpha', 1));
      const beta = Math.fround(ctx.attrFloat('beta', 1));
      // Let A' = op(A), B' = op(B): dA' = alpha dY B'ᵀ, dB' = alpha A'ᵀ dY; dA = dA' or its transpose.
      const da = !needs(0)
        ? null
        : transA
          ? g.gemm(b, dy, { transA: transB, transB: true, alpha }, 'da')
          : g.gemm(dy, b, { transB: !transB, alpha }, 'da');
      const db = !needs(1)
        ? null
        : transB
          ? g.gemm(dy, a, { transA: true, transB: transA, alpha }, 'db')
          : g.gemm(a, dy, { transA: !transA, alpha }, 'db');
      const dc = c && needs(2) ? (beta === 1 ? dy : g.mul(dy, g.scalar(beta, dy.dtype), 'dc')) : null;
      return c ? [da, db, dc] : [da, db];
    },
    cases: [
      { label: 'plain', shapes: [[3, 4], [4, 5]], emit: (g, [a, b]) => g.gemm(a, b) },
      { label: 'transA', shapes: [[4, 3], [4, 5]], emit: (g, [a, b]) => g.gemm(a, b, { transA: true }) },
      { label: 'transB', shapes: [[3, 4], [5, 4]], emit: (g, [a, b]) => g.gemm(a, b, { transB: true }) },
      { label: 'transA transB alpha', shapes: [[4, 3], [5, 4]], emit: (g, [a, b]) => g.gemm(a, b, { transA: true, transB: true, alpha: 0.7 }) },
      { label: 'C full, beta', shapes: [[3, 4], [4, 5], [3, 5]], emit: (g, [a, b, c]) => g.gemm(a, b, { c, beta: 1.3, alpha: 0.5 }) },
      { label: 'C row bias', shapes: [[3, 4], [5, 4], [5]], emit: (g, [a, b, c]) => g.gemm(a, b, { c, transB: true }) },
      { label: 'C column', shapes: [[4, 3], [4, 5], [3, 1]], emit: (g, [a, b, c]) => g.gemm(a, b, { c, transA: true, beta: 2 }) },
      { label: 'C scalar', shapes: [[3, 4], [4, 5], []], emit: (g, [a, b, c]) => g.gemm(a, b, { c }) },
    ],
  },
];

/**
 * dA = dY @ Bᵀ. With a 2-D B (a weight) this is one Gemm with transB over dY's rows, reshaped
 * back to A's shape: no Transpose of the weight, no batched product.
 */
function matMulDa(g: GraphBuilder, dy: Value, a: Value, b: Value): Value {
  if (rank(dy) === 2 && rank(b) === 2) return g.gemm(dy, b, { transB: true }, 'da');
  if (rank(b) === 2) return reshapeLike(g, g.gemm(flattenLead(g, dy, 'dy_rows'), b, { transB: true }, 'da_rows'), a, 'da');
  return g.matMul(dy, transposeLast2(g, b, 'bT'), 'da');
}

/**
 * dB = Aᵀ @ dY. For a 2-D B (a weight) under batched A, fold the batch into the rows so the
 * gradient is one Gemm [k, rows] x [rows, n] instead of a batched product reduced afterwards.
 */
function matMulDb(g: GraphBuilder, a: Value, b: Value, dy: Value): Value {
  if (rank(b) === 2 && rank(a) === 2 && rank(dy) === 2) return g.gemm(a, dy, { transA: true }, 'db');
  if (rank(b) === 2 && rank(a) > 2) return g.gemm(flattenLead(g, a, 'a_rows'), flattenLead(g, dy, 'dy_rows'), { transA: true }, 'db');
  return g.matMul(transposeLast2(g, a, 'aT'), dy, 'db');
}
