/**
 * The update half of a training step, as graph nodes: global-norm gradient clipping and AdamW,
 * with PyTorch's semantics (torch.nn.utils.clip_grad_norm_, torch.optim.AdamW), so a step taken
 * in the graph matches one taken by torch on the same gradients.
 */
import type { GraphBuilder } from '../builder.js';
import { attr, type Value } from '../graph.js';

/**
 * norm = sqrt(Σ‖gᵢ‖²); every gradient is scaled by min(1, maxNorm / (norm + 1e-6)).
 * Returns the clipped gradients and the (pre-clipping) norm, a scalar.
 */
export function clipByGlobalNorm(g: GraphBuilder, grads: Value[], maxNorm: number | Value): { clipped: Value[]; norm: Value } {
  if (grads.length === 0) throw new Error('clipByGlobalNorm: no gradients');
  const dtype = grads[0].dtype;
  return g.scope('clip', () => {
    const squares = grads.map((x, i) =>
      g.op('ReduceSumSquare', [x], { keepdims: attr.int(0) }, { name: `sq${i}`, outputs: [{ dtype: x.dtype, shape: [] }] })[0],
    );
    const total = g.sum(squares, 'sq_total');
    const norm = g.sqrt(total, 'grad_norm');
    const max = typeof maxNorm === 'number' ? g.scalar(maxNorm, dtype) : asDtype(g, maxNorm, dtype);
    const coef = g.op('Min', [g.div(max, g.add(norm, g.scalar(1e-6, dtype), 'norm_eps'), 'ratio'), g.scalar(1, dtype)], {}, { name: 'coef' })[0];
    return { clipped: grads.map((x, i) => g.mul(x, coef, `clipped${i}`)), norm };
  });
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface AdamWState {
  /** First moments, one per parameter, same shape. */
  m: Value[];
  /** Second moments, one per parameter, same shape. */
  v: Value[];
}

/**
 * One AdamW step (torch.optim.AdamW, amsgrad off), t = `step` counted from 1:
 *   p ← p − lr·wd·p
 *   m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
 *   p ← p − lr · (m / (1−β₁ᵗ)) / (sqrt(v / (1−β₂ᵗ)) + ε)       (as torch: sqrt(v)/sqrt(1−β₂ᵗ) + ε)
 * `step` and `lr` are scalar graph values (float), so one graph serves every step and schedule.
 */
export function adamW(
  g: GraphBuilder,
  params: Value[],
  grads: Value[],
  state: AdamWState,
  step: Value,
  lr: Value,
  opts: AdamWOptions,
): { newParams: Value[]; newM: Value[]; newV: Value[] } {
  if (grads.length !== params.length || state.m.length !== params.length || state.v.length !== params.length) {
    throw new Error(`adamW: ${params.length} params, ${grads.length} grads, ${state.m.length} m, ${state.v.length} v`);
  }
  if (params.length === 0) return { newParams: [], newM: [], newV: [] };
  const dtype = params[0].dtype;
  const { beta1, beta2, eps, weightDecay } = opts;
  const c = (x: number) => g.scalar(x, dtype);
  return g.scope('adamw', () => {
    const t = asDtype(g, step, dtype);
    const rate = asDtype(g, lr, dtype);
    const bc1 = g.sub(c(1), g.pow(c(beta1), t, 'beta1_t'), 'bias_correction1');
    const bc2 = g.sub(c(1), g.pow(c(beta2), t, 'beta2_t'), 'bias_correction2');
    const stepSize = g.div(rate, bc1, 'step_size');
    const invSqrtBc2 = g.reciprocal(g.sqrt(bc2, 'sqrt_bc2'), 'inv_sqrt_bc2');
    const decay = g.sub(c(1), g.mul(rate, c(weightDecay), 'lr_wd'), 'decay');
    const newParams: Value[] = [];
    const newM: Value[] = [];
    const newV: Value[] = [];
    params.forEach((p, i) =>
      g.scope(p.name, () => {
        const grad = grads[i];
        const m = g.add(g.mul(state.m[i], c(beta1), 'm_decayed'), g.mul(grad, c(1 - beta1), 'g_scaled'), 'm');
        const v = g.add(g.mul(state.v[i], c(beta2), 'v_decayed'), g.mul(g.mul(grad, grad, 'g2'), c(1 - beta2), 'g2_scaled'), 'v');
        const denom = g.add(g.mul(g.sqrt(v, 'sqrt_v'), invSqrtBc2, 'sqrt_v_hat'), c(eps), 'denom');
        const update = g.mul(g.div(m, denom, 'm_over_denom'), stepSize, 'update');
        newParams.push(g.sub(g.mul(p, decay, 'decayed'), update, 'param'));
        newM.push(m);
        newV.push(v);
      }),
    );
    return { newParams, newM, newV };
  });
}

function asDtype(g: GraphBuilder, v: Value, dtype: Value['dtype']): Value {
  return v.dtype === dtype ? v : g.cast(v, dtype, `${v.name}_${dtype}`);
}
