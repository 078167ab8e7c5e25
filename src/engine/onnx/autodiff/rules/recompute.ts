/**
 * Activation recomputation ("gradient checkpointing") as a composite: a block of the forward
 * pass whose backward rebuilds the block from its input and differentiates that copy.
 */
import type { GraphBuilder } from '../../builder.js';
import { attr, type Value } from '../../graph.js';
import { buildBackward } from '../backward.js';
import type { CompositeRule } from '../rule.js';

export const RECOMPUTED = 'Recomputed';

/**
 * Makes `output` (a block built from `input`, 2-D [N, D], and trainable `params`) a composite
 * whose backward calls `rebuild` on a copy of the input and differentiates the rebuilt block.
 * Only the block's input stays alive from the forward pass to the backward pass, not its
 * activations: far less memory for about one more forward pass. The copy starts from a no-op
 * Flatten of the input, so ORT's common-subexpression pass cannot merge it back into the forward
 * nodes (which would keep their outputs alive again). `label` names the backward values
 * (`recompute.<label>`, `grad/recompute.<label>`).
 */
export function recomputedInBackward(g: GraphBuilder, label: string, input: Value, output: Value, params: Value[], rebuild: (x: Value) => Value): Value {
  return g.composite(output, [input, ...params], (gb, dy, needs) =>
    gb.scope(`recompute.${label}`, () => {
      const xr = gb.op('Flatten', [input], { axis: attr.int(1) }, { name: 'input', outputs: [{ dtype: input.dtype, shape: input.shape }] })[0];
      const surrogate = gb.reduceSum(gb.mul(rebuild(xr), dy, 'terms'), [0, 1], false, 'surrogate');
      const all = [xr, ...params];
      const grads = buildBackward(gb, surrogate, all.filter((_, i) => needs(i)), { stopGradient: [dy], unconnected: 'zeros', scope: `grad/recompute.${label}` });
      return all.map((v, i) => (needs(i) ? grads.get(v.name)! : null));
    }), RECOMPUTED);
}

/** The block of the cases: x + z ⊙ tanh(z) with z = x A^T B^T (z ⊙ sigmoid(z) would become ORT's float-only QuickGelu). */
function block(g: GraphBuilder, x: Value, a: Value, b: Value): Value {
  const z = g.gemm(g.gemm(x, a, { transB: true }, 'xa'), b, { transB: true }, 'xab');
  return g.add(x, g.mul(z, g.op('Tanh', [z], {}, { name: 'gate' })[0], 'gated'), 'out');
}

export const recomputeComposites: CompositeRule[] = [
  {
    name: RECOMPUTED,
    // x [N=4, D=5], A [r=2, D], B [D, r]
    emitForward: (g, [x, a, b]) => recomputedInBackward(g, '0', x, block(g, x, a, b), [a, b], (xr) => block(g, xr, a, b)),
    cases: [{ shapes: [[4, 5], [2, 5], [5, 2]] }, { label: 'symbolic rows', shapes: [[3, 5], [2, 5], [5, 2]], dims: [['n', 5], [2, 5], [5, 2]] }],
  },
];
