/**
 * Attention over a KV cache that the caller keeps: the inference graph's fused layers read each
 * layer's cache buffers [B, KV, capacity, hd] in place (fed whole, with the filled length), attend
 * over them and over the run's own T positions, and output only those new positions' keys and
 * values, which the caller appends (generate/generator.ts, KvCache).
 *
 * Why not ORT's GroupQueryAttention: without a past/present buffer shared through IO binding
 * (onnxruntime-node has none for CPU outputs), its CPU kernel zeroes a present buffer and copies
 * the whole past into it once per query head on every token; at a 500-token past that was most of
 * a decoded token's attention time. Here the cache is only read: scores against the cached keys
 * and against the new keys are taken apart, joined for one softmax, and the two value products
 * added. Unfilled cache positions are masked out, and generation feeds a one-position cache for
 * the prompt (KvCache), so a prefill does no work on the capacity it has not filled yet.
 *
 * Query layout: [B, T, H, hd] is transposed to [B, H, T, hd], which read as [B, KV, G*T, hd]
 * groups the G query heads of each key/value head (head h = kv * G + g, as GQA); so one batched
 * product per cache tensor serves every query head and no key or value is repeated.
 */
import type { GraphBuilder } from '../onnx/builder.js';
import { attr, type Value } from '../onnx/graph.js';
import type { ModelConfig } from './config.js';

/** What every layer's attention shares in one run: the scores' additive mask and the softmax split. */
export interface CachedAttentionRun {
  /** [1, 1, G*T, capacity + T]: 0 where a query may look, -1e9 elsewhere (unfilled cache, future). */
  mask: Value;
  /** int64 [2]: capacity and T, where the probabilities split into the cache's and the new part. */
  splitSizes: Value;
}

const MASKED = -1e9;

/**
 * The per-run masks: cache position p is visible when p < pastLength; among the run's own T
 * positions, query t sees t' <= t. Rows are (g, t) pairs, g-major, as the grouped queries.
 */
export function cachedAttentionRun(g: GraphBuilder, cfg: ModelConfig, pastKey: Value, pastLength: Value, seqLength: Value): CachedAttentionRun {
  const group = cfg.heads / cfg.kvHeads;
  const zero = g.scalar(0, 'int64');
  const one = g.scalar(1, 'int64');
  const capacity = g.squeeze(g.shapeOf(pastKey, 2, 3, 'capacity'), [0], 'capacity_scalar');
  const blocked = g.scalar(MASKED);
  const open = g.scalar(0);
  // [1, capacity]: the filled part of the cache.
  const cachePos = g.unsqueeze(g.range(zero, capacity, one, 'capacity', 'cache_positions'), [0], 'cache_row');
  const cacheMask = g.where(g.less(cachePos, pastLength, 'cache_filled'), open, blocked, 'cache_mask');
  // [G*T, T]: row r is query t = r mod T, which sees the new positions t' <= t.
  const rows = g.mul(seqLength, g.scalar(group, 'int64'), 'rows');
  const queryPos = g.unsqueeze(g.op('Mod', [g.range(zero, rows, one, 'rows', 'row_ids'), seqLength], {}, { name: 'query_positions', outputs: [{ dtype: 'int64', shape: ['rows'] }] })[0], [1], 'query_col');
  const newPos = g.unsqueeze(g.range(zero, seqLength, one, 'seq', 'new_positions'), [0], 'new_row');
  const newMask = g.where(g.greater(newPos, queryPos, 'future'), blocked, open, 'new_mask');
  const rowsShape = g.concat([g.unsqueeze(rows, [0], 'rows_1'), g.shapeOf(cacheMask, 1, 2, 'capacity_1')], 0, 'cache_mask_shape');
  const mask = g.concat([g.expand(cacheMask, rowsShape, ['rows', 'capacity'], 'cache_mask_rows'), newMask], -1, 'mask_2d');
  return {
    mask: g.unsqueeze(mask, [0, 1], 'mask'),
    splitSizes: g.concat([g.unsqueeze(capacity, [0], 'capacity_split'), g.unsqueeze(seqLength, [0], 'seq_split')], 0, 'split_sizes'),
  };
}

/**
 * One layer's attention. q [B, H, T, hd], k and v [B, KV, T, hd] (RoPE applied), past key and
 * value [B, KV, capacity, hd]. Returns the context [B, H, T, hd].
 */
export function cachedAttention(g: GraphBuilder, cfg: ModelConfig, run: CachedAttentionRun, q: Value, k: Value, v: Value, past: { key: Value; value: Value }): Value {
  const { heads: H, kvHeads: KV, headDim: hd } = cfg;
  const scale = { alpha: attr.float(1 / Math.sqrt(hd)), transB: attr.int(1) };
  const f32 = (shape: (string | number)[]) => ({ dtype: 'float32' as const, shape });
  const grouped = g.reshape(q, ['batch', KV, 'rows', hd], 'q_grouped');
  const [cacheScores] = g.op('FusedMatMul', [grouped, past.key], scale, { name: 'cache_scores', domain: 'com.microsoft', outputs: [f32(['batch', KV, 'rows', 'capacity'])] });
  const [newScores] = g.op('FusedMatMul', [grouped, k], scale, { name: 'new_scores', domain: 'com.microsoft', outputs: [f32(['batch', KV, 'rows', 'seq'])] });
  const scores = g.add(g.concat([cacheScores!, newScores!], -1, 'scores_raw'), run.mask, 'scores');
  const [cacheProbs, newProbs] = g.op('Split', [g.softmax(scores, -1, 'probs'), run.splitSizes], { axis: attr.int(-1) }, { name: 'probs_split', outputs: [f32(['batch', KV, 'rows', 'capacity']), f32(['batch', KV, 'rows', 'seq'])] });
  const context = g.add(g.matMul(cacheProbs!, past.value, 'cache_context'), g.matMul(newProbs!, v, 'new_context'), 'context');
  return g.reshape(context, ['batch', H, 'seq', hd], 'context_heads');
}
