/**
 * A decoder block in miniature: RMSNorm -> attention (LoRA on q, Reshape/Transpose/MatMul, scale,
 * causal mask via Where, Softmax) -> residual -> RMSNorm -> SwiGLU (down projection as Gemm with
 * transB) -> residual -> a LogSoftmax/Gather + mean-square loss. Batch and sequence are symbolic.
 * Only the two LoRA factors are differentiated; every base weight is a frozen initializer and must
 * get no gradient at all: not in the plan, and no backward node shaped like a weight gradient.
 */
import { describe, expect, it } from 'vitest';
import type { GraphBuilder } from '../../../src/engine/onnx/builder.js';
import type { Value } from '../../../src/engine/onnx/graph.js';
import { planBackward } from '../../../src/engine/onnx/autodiff/backward.js';
import { gradcheck, rng, sample } from './gradcheck.js';

const D = 8; // hidden
const H = 2; // heads
const HD = D / H; // head dim
const F = 12; // ffn
const R = 2; // LoRA rank
const B = 2;
const T = 5;

interface Frozen {
  wq: Value; wk: Value; wv: Value; wo: Value; wg: Value; wu: Value; wdT: Value; norm1: Value; norm2: Value;
}

function frozenWeights(g: GraphBuilder, seed: number): Frozen {
  const rand = rng(seed);
  const w = (name: string, dims: number[], scale = 0.4) => {
    const data = sample(rand, dims.reduce((a, b) => a * b, 1)).map((v) => v * scale);
    return g.initializer(name, 'float64', dims, new Uint8Array(data.buffer));
  };
  return {
    wq: w('blk.0.attn_q.weight', [D, D]),
    wk: w('blk.0.attn_k.weight', [D, D]),
    wv: w('blk.0.attn_v.weight', [D, D]),
    wo: w('blk.0.attn_output.weight', [D, D]),
    wg: w('blk.0.ffn_gate.weight', [D, F]),
    wu: w('blk.0.ffn_up.weight', [D, F]),
    wdT: w('blk.0.ffn_down.weight', [D, F]), // [out, in] as HF stores it: used with transB
    norm1: w('blk.0.attn_norm.weight', [D], 1),
    norm2: w('blk.0.ffn_norm.weight', [D], 1),
  };
}

function block(g: GraphBuilder, x: Value, loraA: Value, loraB: Value, W: Frozen): Value {
  return g.scope('blk.0', () => {
    const h = g.rmsNorm(x, W.norm1, 1e-5, 'attn_norm'); // [b, t, D]
    const lora = g.mul(g.matMul(g.matMul(h, loraA, 'lora_a'), loraB, 'lora_b'), g.scalar(0.5, 'float64'), 'lora_scaled');
    const q = g.add(g.matMul(h, W.wq, 'q_base'), lora, 'attn_q'); // [b, t, D]
    const k = g.matMul(h, W.wk, 'attn_k');
    const v = g.matMul(h, W.wv, 'attn_v');
    const heads = (t: Value, name: string) => g.transpose(g.reshape(t, ['batch', 'seq', H, HD], `${name}_4d`), [0, 2, 1, 3], `${name}_heads`); // [b, H, t, hd]
    const qh = heads(q, 'q');
    const kT = g.transpose(g.reshape(k, ['batch', 'seq', H, HD], 'k_4d'), [0, 2, 3, 1], 'k_heads_t'); // [b, H, hd, t]
    const vh = heads(v, 'v');
    const scores = g.mul(g.matMul(qh, kT, 'scores_raw'), g.scalar(1 / Math.sqrt(HD), 'float64'), 'scores'); // [b, H, t, t]
    // Causal mask from the run-time length (Shape/Range/Less: no gradient flows there).
    const len = g.squeeze(g.shapeOf(scores, 2, 3, 'len'), [0], 'len_scalar');
    const pos = g.range(g.scalar(0, 'int64'), len, g.scalar(1, 'int64'), 'seq', 'pos');
    const allowed = g.less(g.unsqueeze(pos, [0], 'cols'), g.add(g.unsqueeze(pos, [1], 'rows'), g.scalar(1, 'int64'), 'rows_1'), 'causal');
    const masked = g.where(allowed, scores, g.scalar(-1e9, 'float64'), 'masked');
    const probs = g.softmax(masked, -1, 'probs');
    const ctx = g.matMul(probs, vh, 'ctx'); // [b, H, t, hd]
    const merged = g.reshape(g.transpose(ctx, [0, 2, 1, 3], 'ctx_t'), ['batch', 'seq', D], 'ctx_merged'); // [b, t, D]
    const h1 = g.add(x, g.matMul(merged, W.wo, 'attn_out'), 'resid1');
    const n2 = g.rmsNorm(h1, W.norm2, 1e-5, 'ffn_norm');
    const act = g.mul(g.silu(g.matMul(n2, W.wg, 'ffn_gate')), g.matMul(n2, W.wu, 'ffn_up'), 'swiglu'); // [b, t, F]
    const rows = g.reshape(act, ['rows', F], 'swiglu_rows'); // [b*t, F]
    const down = g.reshapeTo(g.gemm(rows, W.wdT, { transB: true }, 'ffn_down'), g.shapeOf(x), ['batch', 'seq', D], 'ffn_out');
    const out = g.add(h1, down, 'resid2');
    // loss = -mean(logsoftmax(out)[..., 1]) + 0.1 mean(out²)
    const picked = g.gather(g.logSoftmax(out, -1, 'logp'), g.constant('int64', [1], [1], 'target'), -1, 'picked');
    const nll = g.neg(g.reduceMean(picked, [0, 1, 2], false, 'nll_mean'), 'nll');
    const sq = g.reduceMean(g.mul(out, out, 'out_sq'), [0, 1, 2], false, 'ms');
    return g.add(nll, g.mul(sq, g.scalar(0.1, 'float64'), 'ms_scaled'), 'loss');
  });
}

describe('composite: attention + RMSNorm + SwiGLU, LoRA factors only', () => {
  it('matches finite differences and builds no gradient for frozen weights', async () => {
    let frozen: Frozen | undefined;
    const result = await gradcheck(
      (g, [x, a, b]) => {
        frozen = frozenWeights(g, 7);
        return block(g, x, a, b, frozen);
      },
      [
        { name: 'x', shape: [B, T, D], dims: ['batch', 'seq', D], frozen: true },
        { name: 'lora_a', shape: [D, R] },
        { name: 'lora_b', shape: [R, D] },
      ],
      { seed: 20260101, label: 'composite block', directions: 3 },
    );
    expect(result.maxRelErr).toBeLessThan(1e-6);

    const g = result.graph;
    const loss = g.value('blk.0.loss');
    const plan = planBackward(g, loss, [g.value('lora_a'), g.value('lora_b')]);
    const weights = Object.values(frozen!).map((w) => w.name);
    for (const w of [...weights, 'x']) expect(plan.active.has(w), `${w} is on the gradient path`).toBe(false);
    expect(plan.active.has('lora_a') && plan.active.has('lora_b')).toBe(true);
    // The mask's Shape/Range/Less nodes are not visited.
    expect(plan.nodes.some((n) => ['Shape', 'Range', 'Less', 'Squeeze'].includes(n.op))).toBe(false);

    const backward = g.nodes.slice(result.forwardNodeCount).filter((n) => !(n.op === 'Identity' && /^(loss|grad_\d+)$/.test(n.outputs[0])));
    expect(backward.length).toBeGreaterThan(0);
    for (const n of backward) expect(n.outputs[0].startsWith('grad/'), n.outputs[0]).toBe(true);
    // A weight gradient would have a weight's shape; with D, F, R distinct, nothing else does.
    const weightShapes = new Set(Object.values(frozen!).map((w) => JSON.stringify(w.shape)));
    for (const n of backward) {
      for (const o of n.outputs) expect(weightShapes.has(JSON.stringify(g.value(o).shape)), `${o} looks like a weight gradient`).toBe(false);
    }
  });
});
