/**
 * Attention over a KV cache that the caller keeps: the inference graph's fused layers read each
 * layer's cache buffers in place, position-major [fed, 1, KV, hd] (the caller feeds the filled
 * prefix of a longer buffer, a view; see generate/generator.ts, KvCache), attend over them and
 * over the run's own T positions, and output only those new positions' keys and values, in the
 * same layout, which the caller appends with one copy. One sequence a run.
 *
 * Why not ORT's GroupQueryAttention: without a past/present buffer shared through IO binding
 * (onnxruntime-node has none for CPU outputs), its CPU kernel zeroes a present buffer and copies
 * the whole past into it once per query head on every token; at a 500-token past that was most of
 * a decoded token's attention time. Here the cache is only read: scores against the cached keys
 * and against the new keys are taken apart, joined for one softmax, and the two value products
 * added. A fed position at or past the filled length is masked out (generation feeds one such
 * position for a prompt's run, since an empty tensor crashes ORT's WebGPU provider).
 *
 * Layouts: FusedMatMul's transBatchB reads a position-major [S, 1, KV, hd] as [1, KV, S, hd]
 * through strides, no Transpose. Queries [1, H, T, hd] are read as [1, KV, G*T, hd]: the G query
 * heads of each key/value head (head h = kv * G + g, as GQA) as G*T rows of one product, so no key
 * or value is repeated and each is read once a layer. (Reading the queries position-major too,
 * through transBatchA as [1, KV, G, T, hd], saves the query's Transpose but makes G products of
 * one row per key/value head; measured 2-4% slower a decoded token.)
 */
import type { GraphBuilder } from '../onnx/builder.js';
import { attr, type Value } from '../onnx/graph.js';
import type { ModelConfig } from './config.js';

/** What every layer's attention shares in one run: the scores' additive mask and the softmax split. */
export interface CachedAttentionRun {
  /** [G*T, fed + T]: 0 where a query may look, -1e9 elsewhere (unfilled cache, future). */
  mask: Value;
  /** int64 [2]: fed and T, where the probabilities split into the cache's and the new part. */
  splitSizes: Value;
}

const MASKED = -1e9;

/**
 * The per-run mask: cache position p is visible when p < pastLength; among the run's own T
 * positions, query t sees t' <= t. Rows are (g, t) pairs, g-major, as the grouped queries.
 */
export function cachedAttentionRun(g: GraphBuilder, cfg: ModelConfig, pastKey: Value, pastLength: Value, seqLength: Value): CachedAttentionRun {
  const group = cfg.heads / cfg.kvHeads;
  const zero = g.scalar(0, 'int64');
  const one = g.scalar(1, 'int64');
  const fed = g.squeeze(g.shapeOf(pastKey, 0, 1, 'fed'), [0], 'fed_scalar');
  const blocked = g.scalar(MASKED);
  const open = g.scalar(0);
  // [1, fed]: the filled part of what is fed.
  const cachePos = g.unsqueeze(g.range(zero, fed, one, 'fed', 'cache_positions'), [0], 'cache_row');
  const cacheMask = g.where(g.less(cachePos, pastLength, 'cache_filled'), open, blocked, 'cache_mask');
  // [G*T, T]: row r is query t = r mod T, which sees the new positions t' <= t.
  const rows = g.mul(seqLength, g.scalar(group, 'int64'), 'rows');
  const queryPos = g.unsqueeze(g.op('Mod', [g.range(zero, rows, one, 'rows', 'row_ids'), seqLength], {}, { name: 'query_positions', outputs: [{ dtype: 'int64', shape: ['rows'] }] })[0], [1], 'query_col');
  const newPos = g.unsqueeze(g.range(zero, seqLength, one, 'seq', 'new_positions'), [0], 'new_row');
  const newMask = g.where(g.greater(newPos, queryPos, 'future'), blocked, open, 'new_mask');
  const rowsShape = g.concat([g.unsqueeze(rows, [0], 'rows_1'), g.shapeOf(cacheMask, 1, 2, 'fed_1')], 0, 'cache_mask_shape');
  return {
    mask: g.concat([g.expand(cacheMask, rowsShape, ['rows', 'fed'], 'cache_mask_rows'), newMask], -1, 'mask'),
    splitSizes: g.concat([g.unsqueeze(fed, [0], 'fed_split'), g.unsqueeze(seqLength, [0], 'seq_split')], 0, 'split_sizes'),
  };
}

/**
 * One layer's attention, one sequence. q [1, H, T, hd] (RoPE applied); the run's own keys and
 * values and the past ones, position-major: [T, 1, KV, hd] and [fed, 1, KV, hd]. Returns the
 * context as [1, KV, G*T, hd] (the same bytes as [1, H, T, hd]).
 */
export function cachedAttention(g: GraphBuilder, cfg: ModelConfig, run: CachedAttentionRun, q: Value, fresh: { key: Value; value: Value }, past: { key: Value; value: Value }): Value {
  const { kvHeads: KV, headDim: hd } = cfg;
  const f32 = (shape: (string | number)[]) => ({ dtype: 'float32' as const, shape });
  const grouped = g.reshape(q, [1, KV, 'rows', hd], 'q_grouped');
  const scores = (keys: Value, name: string, cols: string) =>
    g.op('FusedMatMul', [grouped, keys], { alpha: attr.float(1 / Math.sqrt(hd)), transB: attr.int(1), transBatchB: attr.int(1) }, { name, domain: 'com.microsoft', outputs: [f32([1, KV, 'rows', cols])] })[0]!;
  const context = (probs: Value, values: Value, name: string) =>
    g.op('FusedMatMul', [probs, values], { transBatchB: attr.int(1) }, { name, domain: 'com.microsoft', outputs: [f32([1, KV, 'rows', hd])] })[0]!;
  const joined = g.add(g.concat([scores(past.key, 'cache_scores', 'fed'), scores(fresh.key, 'new_scores', 'seq')], -1, 'scores_raw'), run.mask, 'scores');
  const [cacheProbs, newProbs] = g.op('Split', [g.softmax(joined, -1, 'probs'), run.splitSizes], { axis: attr.int(-1) }, { name: 'probs_split', outputs: [f32([1, KV, 'rows', 'fed']), f32([1, KV, 'rows', 'seq'])] });
  return g.add(context(cacheProbs!, past.value, 'cache_context'), context(newProbs!, fresh.value, 'new_context'), 'context');
}
