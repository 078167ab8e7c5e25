/**
 * RMSNorm as a composite: its forward from primitives and one fused gradient.
 */
import type { GraphBuilder } from '../../builder.js';
import { attr, type Value } from '../../graph.js';
import type { CompositeRule } from '../rule.js';

export const RMS_NORM = 'RmsNorm';

/**
 * RMSNorm over the last axis: x * r * weight with r = 1 / sqrt(mean(x^2) + eps), with a fused
 * gradient that keeps only x and r [.., 1] alive:
 *   g = dy * weight;  dx = r * (g - xhat * mean(g * xhat));  dweight = sum(dy * xhat)
 * Inference-only graphs use ORT's SimplifiedLayerNormalization instead (no gradient there).
 */
export function rmsNorm(g: GraphBuilder, x: Value, weight: Value, eps: number, name = 'rms_norm'): Value {
  if (g.inferenceOnly) {
    return g.op('SimplifiedLayerNormalization', [x, weight], { axis: attr.int(-1), epsilon: attr.float(eps) }, { name, outputs: [{ dtype: x.dtype, shape: x.shape }] })[0];
  }
  const sq = g.mul(x, x, `${name}_sq`);
  const ms = g.reduceMean(sq, [-1], true, `${name}_ms`);
  const inv = g.reciprocal(g.sqrt(g.add(ms, g.scalar(eps, x.dtype), `${name}_eps`), `${name}_rms`), `${name}_inv`);
  const y = g.mul(g.mul(x, inv, `${name}_normed`), weight, name);
  return g.composite(y, [x, weight], (gb, dy, needs) => {
    const xhat = gb.mul(x, inv, 'xhat');
    const gw = gb.mul(dy, weight, 'dy_w');
    let dx: Value | null = null;
    if (needs(0)) {
      const proj = gb.reduceMean(gb.mul(gw, xhat, 'g_xhat'), [-1], true, 'mean_g_xhat');
      dx = gb.mul(gb.sub(gw, gb.mul(xhat, proj, 'xhat_proj'), 'g_centered'), inv, 'dx');
    }
    let dw: Value | null = null;
    if (needs(1)) {
      const lead = Array.from({ length: (x.shape?.length ?? 1) - 1 }, (_, i) => i);
      dw = gb.reduceSum(gb.mul(dy, xhat, 'dy_xhat'), lead, false, 'dweight');
    }
    return [dx, dw];
  }, RMS_NORM);
}

export const normComposites: CompositeRule[] = [
  {
    name: RMS_NORM,
    emitForward: (g, [x, w]) => rmsNorm(g, x, w, 1e-5),
    cases: [
      { shapes: [[2, 3, 6], [6]] },
      // qk-norm: one norm per head, with symbolic batch and sequence.
      { label: 'per head, symbolic lead', shapes: [[2, 5, 3, 4], [4]], dims: [['b', 't', 3, 4], [4]], emit: (g, [x, w]) => rmsNorm(g, x, w, 1e-6) },
    ],
  },
];

/**
 * RMSNorm of a residual sum x + delta, and the sum itself. Inference graphs use ORT's
 * SkipSimplifiedLayerNormalization (one node where an Add and a norm were: a decoded token passes
 * 2 per layer); training adds, then normalises.
 */
export function residualRmsNorm(g: GraphBuilder, x: Value, delta: Value, weight: Value, eps: number, name: string): { sum: Value; normed: Value } {
  if (!g.inferenceOnly) {
    const sum = g.add(x, delta, `${name}_residual`);
    return { sum, normed: rmsNorm(g, sum, weight, eps, name) };
  }
  g.opsets.set('com.microsoft', 1);
  const stat = { dtype: x.dtype, shape: null, omit: true };
  const [normed, , , sum] = g.op('SkipSimplifiedLayerNormalization', [x, delta, weight], { epsilon: attr.float(eps) }, {
    name,
    domain: 'com.microsoft',
    outputs: [{ dtype: x.dtype, shape: x.shape }, stat, stat, { dtype: x.dtype, shape: x.shape, name: `${name}_residual` }],
  });
  return { sum: sum!, normed: normed! };
}
