/**
 * Grouped-query attention as a composite whose gradient recomputes the probabilities.
 */
import type { GraphBuilder } from '../../builder.js';
import type { Value } from '../../graph.js';
import type { CompositeRule } from '../rule.js';

export const GROUPED_ATTENTION = 'GroupedAttention';

/**
 * softmax(q k^T + mask) v for grouped queries q [B,KV,G,T,hd] against k, v [B,KV,S,hd], with a
 * fused gradient that recomputes the probabilities in backward instead of keeping the
 * [B,KV,G,T,S] tensor of every layer alive (the largest activation; FlashAttention's trade):
 *   P = softmax(q k^T + mask);  dV = P^T dO;  dP = dO V^T;  dS = P (dP - rowsum(dO O));
 *   dq = dS k;  dk = dS^T q
 * The recomputation reads k through a differently built transpose, so ORT's common-subexpression
 * pass cannot fold it back into the forward nodes (which would keep P alive again). The mask
 * [T, S] (0 or a large negative number) is a constant of the graph: it gets no gradient.
 */
export function groupedAttention(g: GraphBuilder, q: Value, k: Value, v: Value, mask: Value): Value {
  const kT = g.unsqueeze(g.transpose(k, [0, 1, 3, 2], 'k_tr'), [2], 'k_grouped'); // [B,KV,1,hd,S]
  const v5 = g.unsqueeze(v, [2], 'v_grouped'); // [B,KV,1,S,hd]
  const scores = g.add(g.matMul(q, kT, 'scores_raw'), mask, 'scores'); // [B,KV,G,T,S]
  const probs = g.softmax(scores, -1, 'probs');
  const out = g.matMul(probs, v5, 'ctx'); // [B,KV,G,T,hd]
  return g.composite(out, [q, k, v], (gb, dOut, needs) => {
    const k5 = gb.unsqueeze(k, [2], 'k5'); // [B,KV,1,S,hd]
    const kT2 = gb.transpose(k5, [0, 1, 2, 4, 3], 'k5_t'); // [B,KV,1,hd,S]
    const p = gb.softmax(gb.add(mask, gb.matMul(q, kT2, 'qk'), 'qk_masked'), -1, 'p'); // recomputed
    const vv = gb.unsqueeze(v, [2], 'v5');
    const dP = gb.matMul(dOut, gb.transpose(vv, [0, 1, 2, 4, 3], 'v5_t'), 'dp'); // [B,KV,G,T,S]
    const rowDot = gb.reduceSum(gb.mul(dOut, out, 'do_o'), [-1], true, 'row_dot'); // [B,KV,G,T,1]
    const dS = gb.mul(p, gb.sub(dP, rowDot, 'dp_centered'), 'ds');
    const dq = needs(0) ? gb.matMul(dS, k5, 'dq') : null; // [B,KV,G,T,hd]
    // Sum over the query groups that share each key/value head.
    const dk = needs(1) ? gb.reduceSum(gb.matMul(gb.transpose(dS, [0, 1, 2, 4, 3], 'ds_t'), q, 'dk_g'), [2], false, 'dk') : null; // [B,KV,S,hd]
    const dv = needs(2) ? gb.reduceSum(gb.matMul(gb.transpose(p, [0, 1, 2, 4, 3], 'p_t'), dOut, 'dv_g'), [2], false, 'dv') : null;
    return [dq, dk, dv];
  }, GROUPED_ATTENTION);
}

/** A causal mask [t, s] for queries at the last t of s positions, in `dtype`. */
function causalMask(g: GraphBuilder, t: number, s: number, dtype: Value['dtype']): Value {
  const data: number[] = [];
  for (let i = 0; i < t; i++) for (let j = 0; j < s; j++) data.push(j > s - t + i ? -1e9 : 0);
  return g.constant(dtype, [t, s], data, 'causal_mask');
}

export const attentionComposites: CompositeRule[] = [
  {
    name: GROUPED_ATTENTION,
    // q [B=2, KV=2, G=2, T=3, hd=4], k and v [B, KV, S=3, hd]
    emitForward: (g, [q, k, v]) => groupedAttention(g, q, k, v, causalMask(g, 3, 3, q.dtype)),
    cases: [
      { shapes: [[2, 2, 2, 3, 4], [2, 2, 3, 4], [2, 2, 3, 4]] },
      // Decoding with a cache: 2 new queries over 5 keys; one group (plain multi-head).
      { label: 'cached keys, one group', shapes: [[1, 3, 1, 2, 4], [1, 3, 5, 4], [1, 3, 5, 4]], emit: (g, [q, k, v]) => groupedAttention(g, q, k, v, causalMask(g, 2, 5, q.dtype)) },
    ],
  },
];
