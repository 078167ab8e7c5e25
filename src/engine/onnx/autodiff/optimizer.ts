/**
 * The update half of a training step, as graph nodes: global-norm gradient clipping and AdamW,
 * with PyTorch's semantics (torch.nn.utils.clip_grad_norm_, torch.optim.AdamW), so a step taken
 * in the graph matches one taken by torch on the same gradients. The training-step graph calls
 * these on its flat vectors (one tensor holding every trainable parameter); the optimizer test
 * checks them against a written-out torch step.
 */
import type { GraphBuilder } from '../builder.js';
import type { Value } from '../graph.js';

/**
 * norm = sqrt(Σ‖gᵢ‖²); every gradient is scaled by min(1, maxNorm / (norm + 1e-6)). A maxNorm of
 * 0 (or less) turns clipping off: the gradients come back as they are.
 * Returns the clipped gradients and the (pre-clipping) norm, a scalar.
 */
export function clipByGlobalNorm(g: GraphBuilder, grads: Value[], maxNorm: number | Value): { clipped: Value[]; norm: Value } {
  if (grads.length === 0) throw new Error('clipByGlobalNorm: no gradients');
  const dtype = grads[0].dtype;
  const squares = grads.map((x, i) => {
    const axes = [...Array(x.shape?.length ?? 0).keys()];
    return g.reduceSum(g.mul(x, x, grads.length > 1 ? `grad_sq${i}` : 'acc_sq'), axes, false, grads.length > 1 ? `grad_sq_sum${i}` : 'grad_sq_total');
  });
  const norm = g.sqrt(g.sum(squares, 'grad_sq_total'), 'grad_norm_value');
  if (typeof maxNorm === 'number' && maxNorm <= 0) return { clipped: grads, norm };
  const max = typeof maxNorm === 'number' ? g.scalar(maxNorm, dtype) : asDtype(g, maxNorm, dtype);
  const ratio = g.div(max, g.add(norm, g.scalar(1e-6, dtype)), 'clip_ratio');
  const coef = g.op('Min', [g.scalar(1, dtype), ratio], {}, { name: 'clip_coef', outputs: [{ dtype, shape: [] }] })[0];
  return { clipped: grads.map((x) => g.mul(x, coef, 'clipped')), norm };
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /**
   * Per parameter (1-D ones only): the decay covers its first N elements and never the rest. The
   * step graph's flat vector ends with trained token rows, which are not decayed.
   */
  decayedPrefix?: (number | undefined)[];
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
 *   p ← p − lr · (m / (1−β₁ᵗ)) / (sqrt(v / (1−β₂ᵗ)) + ε)
 * (torch writes the denominator sqrt(v)/sqrt(1−β₂ᵗ) + ε: the same up to rounding.)
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
  const t = asDtype(g, step, dtype);
  const rate = asDtype(g, lr, dtype);
  const bc1 = g.sub(c(1), g.pow(c(beta1), t, 'b1_pow'), 'bias_corr1');
  const bc2 = g.sub(c(1), g.pow(c(beta2), t, 'b2_pow'), 'bias_corr2');
  return g.scope('adamw', () => {
    const decayRate = weightDecay > 0 ? g.mul(rate, c(weightDecay), 'decay_rate') : undefined;
    const newParams: Value[] = [];
    const newM: Value[] = [];
    const newV: Value[] = [];
    params.forEach((p, i) => {
      const grad = grads[i];
      const m = g.add(g.mul(state.m[i], c(beta1)), g.mul(grad, c(1 - beta1)), 'm');
      const v = g.add(g.mul(state.v[i], c(beta2)), g.mul(g.mul(grad, grad), c(1 - beta2)), 'v');
      const denom = g.add(g.sqrt(g.div(v, bc2)), c(eps), 'denom');
      const update = g.div(g.div(m, bc1), denom, 'update');
      // Decoupled weight decay: p <- p - lr*wd*p (on the prefix only, when one is given).
      const decayed = decayRate ? g.sub(p, g.mul(p, decayScale(g, p, decayRate, opts.decayedPrefix?.[i]), 'decay'), 'decayed') : p;
      newParams.push(g.sub(decayed, g.mul(update, rate), 'p'));
      newM.push(m);
      newV.push(v);
    });
    return { newParams, newM, newV };
  });
}

/** lr·wd as a scalar, or as a vector that is lr·wd on the first `prefix` elements and 0 after. */
function decayScale(g: GraphBuilder, p: Value, rate: Value, prefix: number | undefined): Value {
  const total = p.shape?.length === 1 ? p.shape[0] : undefined;
  if (prefix === undefined || prefix === total) return rate;
  if (typeof total !== 'number') throw new Error(`adamW: a decayed prefix needs a 1-D parameter of known size, got ${p.name} [${p.shape}]`);
  const zero = g.scalar(0, rate.dtype);
  return g.concat([g.expand(rate, g.ints([prefix]), [prefix], 'decay_lora'), g.expand(zero, g.ints([total - prefix]), [total - prefix], 'decay_tokens')], 0, 'decay_scale');
}

function asDtype(g: GraphBuilder, v: Value, dtype: Value['dtype']): Value {
  return v.dtype === dtype ? v : g.cast(v, dtype, `${v.name}_${dtype}`);
}
