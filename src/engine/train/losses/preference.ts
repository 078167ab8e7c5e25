/**
 * Preference losses as heads over per-sequence log-probabilities (DESIGN: "Losses are heads on
 * one step graph"). The forward, LoRA, token rows, clipping and AdamW are the SFT step's; only
 * what is computed from the response tokens' log-probabilities differs, and its gradient with
 * respect to those log-probabilities comes from our autodiff over the small head graph below.
 *
 * Batch layout: pairs are interleaved rows, row 2i the chosen answer and row 2i+1 the rejected
 * one of pair i. Every function here is dtype-generic (float32 in training, float64 in checks).
 *
 * DPO (Rafailov et al. 2023, sigmoid loss as TRL's DPOTrainer):
 *   r = beta * (logp_policy - logp_reference)      (logp summed over the response tokens)
 *   loss_pair = -log sigmoid(r_chosen - r_rejected)
 * The reference is the run's starting point; its log-probabilities are constants of the data, fed
 * in as `ref_logps`. At the start policy = reference, so every pair's loss is ln 2.
 * With rpo_alpha (TRL's DPOConfig.rpo_alpha, Pang et al. 2024) the chosen answers' NLL is added:
 *   loss = mean_pairs(-log sigmoid(r_chosen - r_rejected)) + rpo_alpha * NLL(chosen tokens, mean per token)
 * so the first step's loss is ln 2 + rpo_alpha * the chosen answers' mean NLL per token.
 *
 * ORPO (Hong et al. 2024, as TRL's ORPOTrainer.odds_ratio_loss):
 *   m = mean log-probability per response token,  log odds(m) = m - log(1 - exp(m))
 *   loss = NLL(chosen tokens, mean per token) + lambda * mean_pairs( -log sigmoid(log odds_c - log odds_r) )
 * The rewards reported for ORPO are the log odds of each answer.
 */
import type { GraphBuilder } from '../../onnx/builder.js';
import type { Value } from '../../onnx/graph.js';

import { TRAIN_METHODS } from '../../../shared/tune-settings.js';

export { TRAIN_METHODS };
export type TrainMethod = (typeof TRAIN_METHODS)[number];
export type PreferenceMethod = Exclude<TrainMethod, 'sft'>;

/** beta of DPO and lambda of ORPO when none is given (TRL's defaults). */
export const DEFAULT_PREFERENCE_BETA: Record<PreferenceMethod, number> = { dpo: 0.1, orpo: 0.1 };

/** log sigmoid(x) = min(x, 0) - log(1 + exp(-|x|)), exact for large |x| of either sign. */
export function logSigmoid(g: GraphBuilder, x: Value, name = 'log_sigmoid'): Value {
  const zero = g.scalar(0, x.dtype);
  const lo = g.op('Min', [x, zero], {}, { name: `${name}_min` })[0];
  const hi = g.max(x, zero, `${name}_max`);
  const negAbs = g.sub(lo, hi, `${name}_neg_abs`);
  return g.sub(lo, g.log(g.add(g.scalar(1, x.dtype), g.exp(negAbs, `${name}_exp`), `${name}_1p`), `${name}_log1p`), name);
}

/** [B] interleaved rows -> chosen [P] and rejected [P]. */
export function splitPairs(g: GraphBuilder, x: Value, name: string): { chosen: Value; rejected: Value } {
  const pairs = g.reshape(x, ['pairs', 2], `${name}_pairs`);
  const col = (c: number, label: string) => g.reshape(g.slice(pairs, [c], [c + 1], [1], `${name}_${label}_col`), ['pairs'], `${name}_${label}`);
  return { chosen: col(0, 'chosen'), rejected: col(1, 'rejected') };
}

export interface PreferenceHeadInputs {
  /** Summed log-probability of each row's response tokens [B]. */
  logp: Value;
  /** Response tokens per row [B]. */
  count: Value;
  /** DPO: the reference's summed log-probabilities [B]. */
  ref?: Value;
  /** 1 / pairs in the optimizer step (a step may span micro-batches). */
  pairScale: Value;
  /** ORPO (and DPO with rpoAlpha): 1 / chosen response tokens in the optimizer step. */
  tokenScale?: Value;
  /** DPO: weight of the chosen answers' NLL added to the loss (0 or absent: plain DPO). */
  rpoAlpha?: number;
}

export interface PreferenceHead {
  /** This micro-batch's share of the step's loss (scalar). */
  loss: Value;
  /** Per row [B]: DPO beta * (policy - reference); ORPO the log odds. */
  rewards: Value;
}

export function dpoLoss(g: GraphBuilder, x: PreferenceHeadInputs, beta: number): PreferenceHead {
  const dt = x.logp.dtype;
  const rewards = g.mul(g.sub(x.logp, x.ref!, 'dpo_log_ratio'), g.scalar(beta, dt), 'dpo_rewards');
  const r = splitPairs(g, rewards, 'dpo_rewards');
  const margin = g.sub(r.chosen, r.rejected, 'dpo_margin');
  const perPair = g.neg(logSigmoid(g, margin, 'dpo_log_sigmoid'), 'dpo_pair_loss');
  const loss = g.mul(g.reduceSum(perPair, [0], false, 'dpo_loss_sum'), x.pairScale, 'dpo_loss');
  if (!x.rpoAlpha) return { loss, rewards };
  return { loss: g.add(loss, g.mul(chosenNll(g, x, 'rpo'), g.scalar(x.rpoAlpha, dt), 'rpo_weighted'), 'rpo_loss'), rewards };
}

/** The chosen rows' negative log-likelihood, as a mean over the step's chosen response tokens. */
function chosenNll(g: GraphBuilder, x: PreferenceHeadInputs, name: string): Value {
  const chosenLogp = splitPairs(g, x.logp, `${name}_logp`).chosen;
  return g.mul(g.neg(g.reduceSum(chosenLogp, [0], false, `${name}_chosen_sum`), `${name}_nll_sum`), x.tokenScale!, `${name}_nll`);
}

export function orpoLoss(g: GraphBuilder, x: PreferenceHeadInputs, lambda: number): PreferenceHead {
  const dt = x.logp.dtype;
  const mean = g.div(x.logp, g.max(x.count, g.scalar(1, dt), 'orpo_count'), 'orpo_mean_logp');
  // log odds = m - log(1 - exp(m)); m < 0 for any real answer (a probability below one).
  const logOdds = g.sub(mean, g.log(g.sub(g.scalar(1, dt), g.exp(mean, 'orpo_p'), 'orpo_1mp'), 'orpo_log_1mp'), 'orpo_log_odds');
  const lo = splitPairs(g, logOdds, 'orpo_log_odds');
  const ratio = logSigmoid(g, g.sub(lo.chosen, lo.rejected, 'orpo_log_odds_ratio'), 'orpo_log_sigmoid');
  const orTerm = g.mul(g.neg(g.reduceSum(ratio, [0], false, 'orpo_ratio_sum'), 'orpo_ratio_neg'), x.pairScale, 'orpo_or_term');
  const nll = chosenNll(g, x, 'orpo');
  const loss = g.add(nll, g.mul(orTerm, g.scalar(lambda, dt), 'orpo_weighted'), 'orpo_loss');
  return { loss, rewards: logOdds };
}

export function preferenceHead(g: GraphBuilder, method: PreferenceMethod, x: PreferenceHeadInputs, beta: number): PreferenceHead {
  return method === 'dpo' ? dpoLoss(g, x, beta) : orpoLoss(g, x, beta);
}

/** The same losses in plain float64 arithmetic (for metrics, tests and checks of the graph). */
export function preferenceLossValue(
  method: PreferenceMethod, rows: { logp: number; count: number; ref?: number }[], beta: number, rpoAlpha = 0,
): { loss: number; rewards: number[] } {
  const logSig = (z: number) => Math.min(z, 0) - Math.log1p(Math.exp(-Math.abs(z)));
  const pairs = rows.length / 2;
  if (method === 'dpo') {
    const rewards = rows.map((r) => beta * (r.logp - r.ref!));
    let loss = 0;
    let nll = 0;
    let tokens = 0;
    for (let i = 0; i < pairs; i++) {
      loss -= logSig(rewards[2 * i] - rewards[2 * i + 1]);
      nll -= rows[2 * i].logp;
      tokens += rows[2 * i].count;
    }
    return { loss: loss / pairs + (rpoAlpha ? (rpoAlpha * nll) / Math.max(tokens, 1) : 0), rewards };
  }
  const rewards = rows.map((r) => {
    const m = r.logp / Math.max(r.count, 1);
    return m - Math.log(1 - Math.exp(m));
  });
  let or = 0;
  let nll = 0;
  let tokens = 0;
  for (let i = 0; i < pairs; i++) {
    or -= logSig(rewards[2 * i] - rewards[2 * i + 1]);
    nll -= rows[2 * i].logp;
    tokens += rows[2 * i].count;
  }
  return { loss: nll / Math.max(tokens, 1) + (beta * or) / pairs, rewards };
}

/** Step metrics from the rows' rewards (TRL's names): means over pairs. */
export function rewardMetrics(rewards: ArrayLike<number>): { rewards_chosen: number; rewards_rejected: number; reward_margin: number; reward_accuracy: number } {
  const pairs = rewards.length / 2;
  let c = 0;
  let r = 0;
  let acc = 0;
  for (let i = 0; i < pairs; i++) {
    c += rewards[2 * i];
    r += rewards[2 * i + 1];
    if (rewards[2 * i] > rewards[2 * i + 1]) acc++;
  }
  return { rewards_chosen: c / pairs, rewards_rejected: r / pairs, reward_margin: (c - r) / pairs, reward_accuracy: acc / pairs };
}
