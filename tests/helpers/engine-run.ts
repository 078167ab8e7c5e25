/** Runs Attune's own inference graph on a loaded model, for tests: logits of every position. */
import { adapterFeeds, forwardPass, KvCache } from '../../src/engine/generate/generator.js';
import { buildInferenceGraph } from '../../src/engine/models/inference-graph.js';
import type { LoadedModel } from '../../src/engine/models/load.js';
import type { LoraTarget } from '../../src/engine/models/lora-targets.js';
import { serializeGraph } from '../../src/engine/onnx/serialize.js';
import { createSession, int64Tensor, type Session, type Tensor } from '../../src/engine/runtime/session.js';

export interface TestLora {
  rank: number;
  alpha: number;
  targets: LoraTarget[];
  /** keyed `blk.{l}.{target}` */
  factors: Map<string, { a: Float32Array; b: Float32Array }>;
}

/** `exact`: expand compressed matrices (a GGUF file's Q8_0/Q4_0 blocks) to F32 instead of integer kernels. */
export async function allLogitsSession(model: LoadedModel, lora?: TestLora, exact = false): Promise<Session> {
  const g = buildInferenceGraph(model.config, model.weights, { lastTokenOnly: false, lora: lora && { rank: lora.rank, targets: lora.targets }, ...(exact ? { compressedCompute: false } : {}) });
  return createSession(serializeGraph(g).model, { threads: 1 });
}

/** The adapter's feeds for `session`'s graph (as the app builds them). */
export function loraFeeds(session: Session, model: LoadedModel, lora: TestLora | undefined, loraScale: number): Record<string, Tensor> {
  return adapterFeeds(session.inputNames, model.config, lora, loraScale);
}

/** Logits [T, V] of the whole sequence in one pass (an empty cache). */
export async function forwardLogits(session: Session, model: LoadedModel, ids: number[], extra: Record<string, Tensor> = {}): Promise<Float32Array> {
  return forwardPass(session, model.config, ids, extra);
}

/** Logits [T, V] computed by prefilling `split` tokens and decoding the rest one at a time (as chat does). */
/**
 * Every position's logits, run through a KV cache with room to spare (as generation has): the
 * first `split` ids as one run, then one id per run; or, with `split` a list, runs of those sizes.
 */
export async function cachedLogits(session: Session, model: LoadedModel, ids: number[], split: number | number[], extra: Record<string, Tensor> = {}): Promise<Float32Array> {
  const V = model.config.vocab;
  const result = new Float32Array(ids.length * V);
  // Buffers of two positions at first: the runs grow them (twice over for these ids).
  const cache = KvCache.for(session, model.config, ids.length + 3, 2);
  let pos = 0;
  const sizes = typeof split === 'number' ? [split, ...ids.slice(split).map(() => 1)] : split;
  if (sizes.reduce((a, b) => a + b, 0) !== ids.length) throw new Error('cachedLogits: the runs do not cover the ids');
  const chunks = sizes.map((n, i) => ids.slice(sizes.slice(0, i).reduce((a, b) => a + b, 0), sizes.slice(0, i + 1).reduce((a, b) => a + b, 0)));
  for (const chunk of chunks) {
    const out = await session.run({ input_ids: int64Tensor(chunk, [1, chunk.length]), ...cache.feeds(), ...extra }, { logits: null, ...cache.fetches(chunk.length) });
    cache.advance(chunk.length);
    result.set(out.logits.data as Float32Array, pos * V);
    pos += chunk.length;
  }
  return result;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
