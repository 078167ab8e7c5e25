/**
 * Losses are heads on one step graph: each is a small function of the per-token
 * log-probabilities of the target tokens (`tokenLogProbs`, autodiff/rules/loss.ts, whose fused
 * gradient reaches the hidden states and trained head rows). A head differentiates through the
 * primitive rules, so it needs no gradient of its own; the forward, LoRA, clipping and AdamW are
 * shared by every head.
 */
import type { GraphBuilder } from '../onnx/builder.js';
import type { Value } from '../onnx/graph.js';

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
