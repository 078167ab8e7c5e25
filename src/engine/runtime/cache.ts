/**
 * Built graphs are cached on disk, keyed by the model's identity and the graph options, so a
 * second start reuses them. A build goes to a temporary folder and is renamed into place; the
 * least recently used entries go when the cache outgrows its budget (cache-prune.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Graph } from '../onnx/graph.js';
import { writeModelDir } from '../onnx/serialize.js';
import { markUsed, pruneCache } from './cache-prune.js';

/** Bump when graph-building code changes in a way that invalidates cached graphs. */
export const GRAPH_FORMAT_VERSION = 20; // 20: the chat KV cache position-major [S, 1, KV, hd], its filled prefix fed (19: the same with a rank-5 layout); 18: inference attention reads the cache buffers in place (no GroupQueryAttention); 17: training graphs declare value shapes in batch/seq/tokens and each loss chunk's rows; 16: chat KV cache fed whole with past_length, gate/up stacked, nodes no output needs left out; 15: inference layers of ORT fused nodes (q/k/v stacked, SkipSimplifiedLayerNormalization, A fed pre-scaled); 9: compressed compute (MatMulNBits / MatMulInteger); 10: dropout off by a negative dropout_step; 11: fused int8 products (QuantizeLinear per row, MatMulIntegerToFloat); 12: training graphs declare batch-sized inputs without a shape; 13: int4 training multiplies an int8 copy of its values; 14: GGUF Q4_K/Q6_K blocks kept, GGUF blocks in training

export function cacheRoot(): string {
  if (process.env.ATTUNE_CACHE_DIR) return process.env.ATTUNE_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME ?? (process.platform === 'win32' ? process.env.LOCALAPPDATA : undefined) ?? path.join(os.homedir(), '.cache');
  return path.join(base ?? os.tmpdir(), 'attune');
}

export function cacheKey(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify({ v: GRAPH_FORMAT_VERSION, parts })).digest('hex').slice(0, 24);
}

export interface CachedGraph {
  modelPath: string;
  /** True when the graph came from the cache without building. */
  reused: boolean;
}

/** Returns the cached model file for `key`, building it with `build` on a miss. */
export async function cachedGraph(kind: string, key: string, build: () => Graph | Promise<Graph>): Promise<CachedGraph> {
  const dir = path.join(cacheRoot(), 'graphs', `${kind}-${key}`);
  const modelPath = path.join(dir, 'model.onnx');
  if (existsSync(modelPath) && existsSync(path.join(dir, 'model.onnx.data'))) {
    markUsed(dir);
    return { modelPath, reused: true };
  }
  await writeModelDir(await build(), dir);
  pruneCache(cacheRoot(), dir);
  return { modelPath, reused: false };
}
