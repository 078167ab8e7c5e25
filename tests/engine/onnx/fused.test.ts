/**
 * Fused gradients of composites (builder.ts rmsNorm, silu; decoder LoRA projection with a merged
 * weight) against finite differences in float64, and the composite's inner nodes get no gradient.
 */
import { describe, expect, it } from 'vitest';
import { gradcheck, weightedSum, rng } from './gradcheck.js';
import { planBackward } from '../../../src/engine/onnx/autodiff/backward.js';
import { GraphBuilder } from '../../../src/engine/onnx/builder.js';

describe('fused composite gradients', () => {
  it('rmsNorm: input and weight, over a 3-D input', async () => {
    const r = await gradcheck((g, [x, w]) => weightedSum(g, g.rmsNorm(x, w, 1e-5), rng(3)), [{ shape: [2, 3, 6] }, { shape: [6] }], { seed: 11, label: 'rmsNorm' });
    expect(r.maxRelErr).toBeLessThan(1e-6);
  });

  it('rmsNorm: per-head norm with symbolic leading dims (qk-norm)', async () => {
    const r = await gradcheck((g, [x, w]) => weightedSum(g, g.rmsNorm(x, w, 1e-6), rng(4)), [{ shape: [2, 5, 3, 4], dims: ['b', 't', 3, 4] }, { shape: [4] }], { seed: 12, label: 'qk-norm' });
    expect(r.maxRelErr).toBeLessThan(1e-6);
  });

  it('silu', async () => {
    const r = await gradcheck((g, [x]) => weightedSum(g, g.silu(x), rng(5)), [{ shape: [4, 7] }], { seed: 13, label: 'silu' });
    expect(r.maxRelErr).toBeLessThan(1e-6);
  });

  it("a composite's inner nodes are not differentiated", () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float64', [3, 4]);
    const w = g.input('w', 'float64', [4]);
    const loss = g.reduceSum(g.rmsNorm(x, w, 1e-5, 'norm'), [0, 1], false, 'loss');
    const plan = planBackward(g, loss, [x, w]);
    expect(plan.nodes.map((n) => n.outputs[0])).toEqual(['norm', 'loss']);
  });
});
