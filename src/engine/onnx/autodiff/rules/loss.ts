/**
 * The language-model head as a composite: per-token log-probabilities of the target tokens, with
 * a fused, chunked gradient. Every loss (SFT's cross-entropy, preference losses) is a small
 * function of these log-probabilities (train/losses.ts), differentiated by the primitive rules;
 * this composite carries their gradient back to the hidden states and the trained head rows.
 */
import type { GraphBuilder } from '../../builder.js';
import { attr, type Value } from '../../graph.js';
import type { CompositeRule } from '../rule.js';

export const TOKEN_LOG_PROBS = 'TokenLogProbs';

export interface TokenLogProbsOptions {
  /**
   * Token chunks: each chunk's [C, V] logits and probabilities are formed and dropped before the
   * next chunk, so a 49k-152k vocabulary never materialises [tokens x vocab] at once.
   */
  chunks: number;
  /**
   * Rows of `head` that are trained: their token ids, and the value [R, D] they were written
   * from (into `head`, by the caller). That value then gets its gradient here, without a
   * gradient for the whole [V, D] table ever being formed.
   */
  trainedRows?: { ids: number[]; values: Value };
  /**
   * The logits of a chunk, h head^T, computed another way (a frozen head stored compressed,
   * multiplied by integer kernels); `head` itself then only serves the gradient, dl head.
   */
  logits?: (h: Value, name: string) => Value;
}

/**
 * The symbolic row count of chunk k: each chunk its own name, as the last chunk (or, for a batch
 * of fewer than (K-1)^2 tokens, several) is shorter than the others; a model file may then
 * declare the chunks' shapes (Graph.declaredValueDims).
 */
export const lossChunkDim = (k: number): string => `chunk${k}`;

/**
 * logp[t] = log softmax(hidden[t] head^T)[targets[t]] for hidden [N, D], head [V, D] (frozen but
 * for `trainedRows`), targets [N] int64; returns logp [N].
 *
 * The gradient is fused. With dl = softmax - onehot(target) (one LogSoftmax gives both logp and,
 * through Exp, the probabilities), d logp[t] / d hidden[t] = -(dl head)[t], so the forward pass
 * keeps G = dl head [N, D] per chunk and the backward pass only scales it:
 *   dhidden = G ⊙ (-dy);   drows = (dl[:, rows] ⊙ (-dy))^T hidden
 * Any loss over logp therefore costs no second pass over the vocabulary, whatever its upstream dy.
 */
export function tokenLogProbs(g: GraphBuilder, hidden: Value, head: Value, targets: Value, opts: TokenLogProbsOptions): Value {
  const D = hidden.shape![1];
  const K = opts.chunks;
  const rows = opts.trainedRows;
  const n = g.shapeOf(hidden, 0, 1, 'n_tokens'); // [1]
  const chunk = g.div(g.add(n, g.ints([K - 1]), 'n_plus'), g.ints([K]), 'chunk_size'); // ceil(N / K)
  const picked: Value[] = [];
  const slopes: Value[] = [];
  const rowSlopes: Value[] = [];
  for (let k = 0; k < K; k++) {
    g.scope(`loss.${k}`, () => {
      const start = g.mul(chunk, g.ints([k]), 'start');
      const end = g.mul(chunk, g.ints([k + 1]), 'end');
      const sl = (x: Value, shape: (string | number)[], name: string) =>
        g.op('Slice', [x, start, end, g.ints([0])], {}, { name, outputs: [{ dtype: x.dtype, shape }] })[0];
      const C = lossChunkDim(k);
      const h = sl(hidden, [C, D], 'hidden');
      const tgt = g.unsqueeze(sl(targets, [C], 'targets'), [1], 'targets_col'); // [C,1]
      const logits = opts.logits ? opts.logits(h, 'logits') : g.gemm(h, head, { transB: true }, 'logits'); // [C, V]
      const logProbs = g.logSoftmax(logits, -1, 'log_probs');
      picked.push(g.op('GatherElements', [logProbs, tgt], { axis: attr.int(1) }, { name: 'target_log_prob', outputs: [{ dtype: hidden.dtype, shape: [C, 1] }] })[0]);
      // dl = softmax - onehot(target), then its products with the head, kept for the backward pass.
      const probs = g.exp(logProbs, 'probs');
      const minusOne = g.expand(g.scalar(-1, hidden.dtype), g.shapeOf(tgt, 0, 2, 'targets_shape'), [C, 1], 'minus_one');
      const dl = g.op('ScatterElements', [probs, tgt, minusOne], { axis: attr.int(1), reduction: attr.string('add') }, { name: 'dlogits', outputs: [{ dtype: hidden.dtype, shape: logits.shape }] })[0];
      slopes.push(g.gemm(dl, head, {}, 'dlogits_head')); // [C, D]
      if (rows) {
        const cols = g.constant('int64', [rows.ids.length], rows.ids.map(BigInt), 'trained_token_cols');
        rowSlopes.push(g.gather(dl, cols, 1, 'dlogits_rows')); // [C, R]
      }
    });
  }
  // The chunks together are hidden's rows again.
  const N = hidden.shape![0]!;
  const rejoin = (parts: Value[], width: number | string, name: string) =>
    g.op('Concat', parts, { axis: attr.int(0) }, { name, outputs: [{ dtype: hidden.dtype, shape: [N, width] }] })[0]!;
  const slope = rejoin(slopes, D!, 'dlogits_head_all'); // [N, D]
  const rowSlope = rows ? rejoin(rowSlopes, rows.ids.length, 'dlogits_rows_all') : undefined; // [N, R]
  const logp = g.reshape(rejoin(picked, 1, 'target_log_probs'), ['tokens'], 'token_log_probs');
  const inputs = rows ? [hidden, rows.values] : [hidden];
  return g.composite(logp, inputs, (gb, dy, needs) => {
    const scale = gb.unsqueeze(gb.neg(dy, 'minus_dy'), [1], 'minus_dy_col'); // [N, 1]
    const dHidden = needs(0) ? gb.mul(slope, scale, 'dhidden') : null;
    const dRows = rowSlope && needs(1) ? gb.gemm(gb.mul(rowSlope, scale, 'drows_scaled'), hidden, { transA: true }, 'dhead_rows') : null;
    return rows ? [dHidden, dRows] : [dHidden];
  }, TOKEN_LOG_PROBS);
}

/** The frozen head of the cases [V=7, D=4], with rows 1 and 5 written from a trained input. */
function caseHead(g: GraphBuilder, dtype: Value['dtype'], trained?: Value): Value {
  const data = Array.from({ length: 7 * 4 }, (_, i) => Math.sin(i * 1.3 + 0.4) * 1.5);
  const table = g.constant(dtype, [7, 4], data, 'head');
  if (!trained) return table;
  const at = g.constant('int64', [2, 1], [1n, 5n], 'trained_rows');
  return g.op('ScatterND', [table, at, trained], {}, { name: 'head_trained', outputs: [{ dtype, shape: [7, 4] }] })[0];
}
const caseTargets = (g: GraphBuilder, n: number) => g.constant('int64', [n], Array.from({ length: n }, (_, i) => BigInt([5, 0, 1, 6, 1, 3, 5][i % 7])), 'targets');

export const lossComposites: CompositeRule[] = [
  {
    name: TOKEN_LOG_PROBS,
    // hidden [N=5, D=4], one chunk
    emitForward: (g, [h]) => tokenLogProbs(g, h, caseHead(g, h.dtype), caseTargets(g, 5), { chunks: 1 }),
    cases: [
      { shapes: [[5, 4]] },
      // Three chunks over symbolic tokens (the last one shorter), and trained head rows [R=2, D].
      {
        label: 'three chunks, trained rows',
        shapes: [[5, 4], [2, 4]],
        dims: [['tokens', 4], [2, 4]],
        emit: (g, [h, rows]) => tokenLogProbs(g, h, caseHead(g, h.dtype, rows), caseTargets(g, 5), { chunks: 3, trainedRows: { ids: [1, 5], values: rows } }),
      },
    ],
  },
];
