/**
 * SiLU and SwiGLU as composites: forwards from primitives, gradients that recompute the sigmoid
 * from the input instead of keeping it alive for the backward pass.
 */
import type { GraphBuilder } from '../../builder.js';
import type { Value } from '../../graph.js';
import type { CompositeRule } from '../rule.js';

export const SILU = 'Silu';
export const SWIGLU = 'SwiGlu';

/**
 * x * sigmoid(x), with a fused gradient: dx = dy * s * (1 + x * (1 - s)), s recomputed from x,
 * so backward keeps only x alive (not the sigmoid as well).
 */
export function silu(g: GraphBuilder, x: Value, name = 'silu'): Value {
  const y = g.mul(x, g.sigmoid(x, `${name}_sig`), name);
  return g.composite(y, [x], (gb, dy) => {
    const s = gb.sigmoid(x, 'sig');
    const one = gb.scalar(1, x.dtype);
    const slope = gb.mul(s, gb.add(one, gb.mul(x, gb.sub(one, s, 'one_minus_sig'), 'x_one_minus_sig'), 'one_plus'), 'dsilu');
    return [gb.mul(dy, slope, 'dx')];
  }, SILU);
}

/**
 * silu(gate) * up with a fused gradient that recomputes silu from gate, so backward keeps gate
 * and up but not silu(gate):  dgate = d * up * s (1 + gate (1 - s)),  dup = d * silu(gate).
 */
export function swiGlu(g: GraphBuilder, gate: Value, up: Value): Value {
  const out = g.mul(silu(g, gate, 'ffn_silu'), up, 'ffn_act');
  return g.composite(out, [gate, up], (gb, d, needs) => {
    const s = gb.sigmoid(gate, 'sig');
    const one = gb.scalar(1, gate.dtype);
    const dgate = needs(0)
      ? gb.mul(gb.mul(d, up, 'd_up'), gb.mul(s, gb.add(one, gb.mul(gate, gb.sub(one, s, 'one_minus_s'), 'g_one_minus_s'), 'one_plus'), 'dsilu'), 'dgate')
      : null;
    const dup = needs(1) ? gb.mul(d, gb.mul(gate, s, 'silu'), 'dup') : null;
    return [dgate, dup];
  }, SWIGLU);
}

export const activationComposites: CompositeRule[] = [
  { name: SILU, emitForward: (g, [x]) => silu(g, x), cases: [{ shapes: [[4, 7]] }, { label: 'symbolic rows', shapes: [[3, 5]], dims: [['n', 5]] }] },
  { name: SWIGLU, emitForward: (g, [gate, up]) => swiGlu(g, gate, up), cases: [{ shapes: [[4, 6], [4, 6]] }, { label: 'symbolic rows', shapes: [[3, 5], [3, 5]], dims: [['n', 5], ['n', 5]] }] },
];
