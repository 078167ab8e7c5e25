/**
 * The response-token section of the training step for preference methods (DPO, ORPO): the same
 * chunked logits -> log-softmax -> target log-probability as the SFT loss, then a loss head over
 * the per-sequence sums (./preference.ts), whose gradient with respect to each token's
 * log-probability comes from our autodiff; the chunks' logit gradients follow from it:
 *   d loss / d logits_t = c_t * (onehot(target_t) - softmax_t),  c_t = d loss / d logp_t.
 * (The SFT loss is the special case c_t = -w_t / tokens.)
 *
 * Extra inputs: `pair_scale` [] (1 / pairs in the optimizer step), `ref_logps` [B] (DPO).
 * Extra outputs: `seq_logps` [B] (summed response log-probabilities, with which the reference is
 * computed once before training) and `rewards` [B].
 *
 * Memory: every chunk's log-softmax stays alive until the head's gradient is known, so for
 * preference methods the chunking bounds the logits' compute, not their peak memory.
 */
import { attr, type Value } from '../../onnx/graph.js';
import type { GraphBuilder } from '../../onnx/builder.js';
import { buildBackward } from '../../onnx/autodiff/backward.js';
import { preferenceHead, type PreferenceMethod } from './preference.js';

export interface PreferenceSectionInput {
  method: PreferenceMethod;
  beta: number;
  vocab: number;
  hidden: Value; // [N, D]
  head: Value; // [V, D], no gradient through it
  flatTargets: Value; // [N]
  lossWeight: Value; // [B, T]
  /** 1 / chosen response tokens in the step (ORPO's NLL term). */
  tokenScale: Value;
  chunks: number;
  /** Trained rows of an untied head: their gradient is gathered from the logit gradients. */
  headRowCols?: Value;
  evalOnly?: boolean;
}

export interface PreferenceSection {
  loss: Value;
  rewards: Value;
  seqLogps: Value;
  dHiddenParts: Value[];
  dHeadParts: Value[];
}

export function preferenceSection(g: GraphBuilder, p: PreferenceSectionInput): PreferenceSection {
  const K = p.chunks;
  const D = p.hidden.shape![1]!;
  const flatWeight = g.reshape(p.lossWeight, ['tokens'], 'pref_flat_weight');
  const n = g.shapeOf(p.hidden, 0, 1, 'pref_n_tokens');
  const chunk = g.div(g.add(n, g.ints([K - 1]), 'pref_n_plus'), g.ints([K]), 'pref_chunk_size');
  const parts: { h: Value; tgt: Value; logProbs: Value; picked: Value; start: Value; end: Value }[] = [];
  for (let k = 0; k < K; k++) {
    g.scope(`loss.${k}`, () => {
      const start = g.mul(chunk, g.ints([k]), 'start');
      const end = g.mul(chunk, g.ints([k + 1]), 'end');
      const sl = (x: Value, shape: (string | number)[], name: string) =>
        g.op('Slice', [x, start, end, g.ints([0])], {}, { name, outputs: [{ dtype: x.dtype, shape }] })[0];
      const h = sl(p.hidden, ['chunk', D], 'hidden');
      const tgt = g.unsqueeze(sl(p.flatTargets, ['chunk'], 'targets'), [1], 'targets_col');
      const logits = g.gemm(h, p.head, { transB: true }, 'logits');
      const logProbs = g.logSoftmax(logits, -1, 'log_probs');
      const picked = g.op('GatherElements', [logProbs, tgt], { axis: attr.int(1) }, { name: 'target_log_prob', outputs: [{ dtype: 'float32', shape: ['chunk', 1] }] })[0];
      parts.push({ h, tgt, logProbs, picked, start, end });
    });
  }
  // Per-token log-probabilities [N] -> per-row sums over the response tokens [B].
  const tokenLogp = g.reshape(K === 1 ? parts[0].picked : g.concat(parts.map((c) => c.picked), 0, 'pref_token_logp_col'), ['tokens'], 'pref_token_logp');
  const masked = g.mul(tokenLogp, flatWeight, 'pref_masked_logp');
  const rowsShape = g.shapeOf(p.lossWeight, undefined, undefined, 'pref_rows_shape');
  const seqLogps = g.reduceSum(g.reshapeTo(masked, rowsShape, p.lossWeight.shape!, 'pref_masked_rows'), [1], false, 'pref_seq_logps');
  const count = g.reduceSum(p.lossWeight, [1], false, 'pref_seq_count');
  const pairScale = g.input('pair_scale', 'float32', []);
  const ref = p.method === 'dpo' ? g.input('ref_logps', 'float32', ['batch']) : undefined;
  const head = preferenceHead(g, p.method, { logp: seqLogps, count, ref, pairScale, tokenScale: p.tokenScale }, p.beta);
  const out: PreferenceSection = { loss: head.loss, rewards: head.rewards, seqLogps, dHiddenParts: [], dHeadParts: [] };
  if (p.evalOnly) return out;

  // c_t = d loss / d logp_t from the head graph; the decoder's backward is seeded separately.
  const coef = buildBackward(g, head.loss, [tokenLogp], { scope: 'pref_grad' }).get(tokenLogp.name)!;
  parts.forEach((c, k) => {
    g.scope(`loss.${k}`, () => {
      // w = -c_t as a column: d/dlogits = w * (softmax - onehot), the SFT form with w = weight / tokens.
      const cChunk = g.op('Slice', [coef, c.start, c.end, g.ints([0])], {}, { name: 'coef', outputs: [{ dtype: 'float32', shape: ['chunk'] }] })[0];
      const w = g.unsqueeze(g.neg(cChunk, 'neg_coef'), [1], 'weight_col');
      const probs = g.exp(c.logProbs, 'probs');
      const dLogits0 = g.mul(probs, w, 'dlogits_soft');
      const dLogits = g.op('ScatterElements', [dLogits0, c.tgt, g.neg(w, 'neg_w')], { axis: attr.int(1), reduction: attr.string('add') }, { name: 'dlogits', outputs: [{ dtype: 'float32', shape: ['chunk', p.vocab] }] })[0];
      out.dHiddenParts.push(g.gemm(dLogits, p.head, {}, 'dhidden'));
      if (p.headRowCols) out.dHeadParts.push(g.gemm(g.gather(dLogits, p.headRowCols, 1, 'dlogits_rows'), c.h, { transA: true }, 'dhead_rows'));
    });
  });
  return out;
}
