/**
 * Every composite (several forward nodes with one fused gradient; see `CompositeRule`), with its
 * gradcheck cases. The gradient travels on the composite's node, so autodiff never looks a
 * composite up by name: this list exists so that the rule test checks each one alone, and so that
 * a fused gradient written outside autodiff/rules has nowhere to hide (`g.composite` takes the
 * name of one of these).
 *
 *   rules/norm        RmsNorm
 *   rules/activation  Silu, SwiGlu
 *   rules/attention   GroupedAttention (probabilities recomputed in backward)
 *   rules/linear      FrozenLinear (compressed weight expanded again), MergedLoraLinear
 *   rules/recompute   Recomputed (a layer rebuilt in backward: activation checkpointing)
 *   rules/loss        TokenLogProbs (chunked LM head + log-softmax + target pick)
 *
 * Kept apart from registry.ts because rules/recompute differentiates its block with the driver,
 * which reads the registry.
 */
import type { CompositeRule } from './rule.js';
import { activationComposites } from './rules/activation.js';
import { attentionComposites } from './rules/attention.js';
import { linearComposites } from './rules/linear.js';
import { lossComposites } from './rules/loss.js';
import { normComposites } from './rules/norm.js';
import { recomputeComposites } from './rules/recompute.js';

export function allComposites(): CompositeRule[] {
  const list = [...normComposites, ...activationComposites, ...attentionComposites, ...linearComposites, ...recomputeComposites, ...lossComposites];
  const names = new Set<string>();
  for (const c of list) {
    if (names.has(c.name)) throw new Error(`autodiff: composite ${c.name} listed twice`);
    names.add(c.name);
  }
  return list;
}
