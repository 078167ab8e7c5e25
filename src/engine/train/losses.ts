/**
 * Losses are heads on one step graph: each is a small function of the per-token
 * log-probabilities of the target tokens (`tokenLogProbs`, autodiff/rules/loss.ts, whose fused
 * gradient reaches the hidden states and trained head rows). A head differentiates through the
 * primitive rules, so it needs no gradient of its own; the forward, LoRA, clipping and AdamW are
 * shared by every head.
 */
import type { GraphBuilder } from '../onnx/builder.js';
import type { Value } from '../onnx/graph.js';
import { preferenceHead, type PreferenceMethod } from './losses/preference.js';

export interface LossHead {
  /** What the step reports (summed over this micro-batch's scored tokens). */
  lossSum: Value;
  /** The scalar the backward pass differentiates (scaled for the whole optimizer step). */
  objective: Value;
}

/**
 * Masked cross-entropy (SFT): lossSum = -Σ w·logp over tokens, w = 1 on response tokens and 0
 * elsewhere; objective = lossSum · scale, with scale = 1 / response tokens in the optimizer step,
 * so the accumulated gradient is that of the step's mean.
 */
export function crossEntropyHead(g: GraphBuilder, logProbs: Value, weight: Value, scale: Value): LossHead {
  const lossSum = g.neg(g.reduceSum(g.mul(logProbs, weight, 'ce_masked'), [0], false, 'log_prob_sum'), 'loss_sum_total');
  return { lossSum, objective: g.mul(lossSum, scale, 'objective') };
}

export interface PreferenceLossHead extends LossHead {
  /** Summed response log-probabilities per row [B] (the DPO reference is computed with these). */
  seqLogps: Value;
  /** Per row [B]: DPO beta * (policy - reference); ORPO the log odds. */
  rewards: Value;
}

/**
 * DPO and ORPO (losses/preference.ts) over the same per-token log-probabilities: summed over each
 * row's response tokens (DPO; ORPO takes their mean per row from the sum and the count). Rows are
 * interleaved pairs (chosen, rejected). Extra inputs: `pair_scale` [] (1 / pairs in the optimizer
 * step) and, for DPO, `ref_logps` [B]; `tokenScale` is 1 / chosen response tokens in the step
 * (the NLL term of ORPO, and of DPO with `rpoAlpha`). lossSum = objective = this micro-batch's share of the step's loss.
 */
export function preferenceLossHead(
  g: GraphBuilder, method: PreferenceMethod, beta: number, logProbs: Value, lossWeight: Value, tokenScale: Value, rpoAlpha?: number,
): PreferenceLossHead {
  const flatWeight = g.reshape(lossWeight, ['tokens'], 'pref_flat_weight');
  const masked = g.mul(logProbs, flatWeight, 'pref_masked_logp');
  const rowsShape = g.shapeOf(lossWeight, undefined, undefined, 'pref_rows_shape');
  const seqLogps = g.reduceSum(g.reshapeTo(masked, rowsShape, lossWeight.shape!, 'pref_masked_rows'), [1], false, 'pref_seq_logps');
  const count = g.reduceSum(lossWeight, [1], false, 'pref_seq_count');
  const pairScale = g.input('pair_scale', 'float32', []);
  const ref = method === 'dpo' ? g.input('ref_logps', 'float32', ['batch']) : undefined;
  const head = preferenceHead(g, method, { logp: seqLogps, count, ref, pairScale, tokenScale, rpoAlpha }, beta);
  const lossSum = g.identity(head.loss, 'loss_sum_total');
  return { lossSum, objective: lossSum, seqLogps, rewards: head.rewards };
}
