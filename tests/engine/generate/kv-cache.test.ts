/**
 * The chat KV cache in the fused layers' form: what a run is fed is the filled prefix of the
 * buffers (attention then works on what is filled, not on the capacity), new rows land right
 * after the filled ones, and growing or cutting back keeps the rows in order. The graphs' side
 * is checked end to end in tests/engine/models/inference.test.ts (cached decode equals the full
 * forward); this pins the feeds themselves.
 */
import { describe, expect, it } from 'vitest';
import { KvCache } from '../../../src/engine/generate/generator.js';
import type { ModelConfig } from '../../../src/engine/models/config.js';
import { PAST_LENGTH_INPUT } from '../../../src/engine/models/inference-graph.js';
import type { Session } from '../../../src/engine/runtime/session.js';

const cfg = { layers: 2, kvHeads: 2, headDim: 4 } as ModelConfig;
const ROW = cfg.kvHeads * cfg.headDim;
const fusedSession = { inputNames: ['input_ids', PAST_LENGTH_INPUT] } as unknown as Session;

/** Runs `tokens` positions whose rows hold position * 100 + layer * 10 + (0 key, 1 value), then a counter. */
function run(cache: KvCache, tokens: number): void {
  const start = cache.filled;
  const fetches = cache.fetches(tokens);
  for (let l = 0; l < cfg.layers; l++) {
    for (const [i, kind] of (['key', 'value'] as const).entries()) {
      const data = fetches[`present.${l}.${kind}`]!.data as Float32Array;
      for (let t = 0; t < tokens; t++) for (let j = 0; j < ROW; j++) data[t * ROW + j] = (start + t) * 100 + l * 10 + i + j / 100;
    }
  }
  cache.advance(tokens);
}

/** Position p's first entry of layer 1's values as fed, for every fed position. */
function fedValues(cache: KvCache): number[] {
  const past = cache.feeds()['past.1.value']!;
  const data = past.data as Float32Array;
  return Array.from({ length: past.dims[0]! }, (_, p) => data[p * ROW]!);
}

describe('KvCache (fused layers)', () => {
  it('feeds the filled prefix [filled, 1, KV, hd] and the filled length, one masked position when empty', () => {
    const cache = KvCache.for(fusedSession, cfg, 64, 8);
    let feeds = cache.feeds();
    expect(feeds['past.0.key']!.dims).toEqual([1, 1, 2, 4]);
    expect(Array.from(feeds[PAST_LENGTH_INPUT]!.data as Int32Array)).toEqual([0]);
    run(cache, 3);
    feeds = cache.feeds();
    expect(feeds['past.0.key']!.dims).toEqual([3, 1, 2, 4]);
    expect(Array.from(feeds[PAST_LENGTH_INPUT]!.data as Int32Array)).toEqual([3]);
    expect(cache.fetches(1)['present.0.value']!.dims).toEqual([1, 1, 2, 4]);
  });

  it('appends rows in order across runs and keeps them through growth', () => {
    const cache = KvCache.for(fusedSession, cfg, 64, 2);
    run(cache, 3); // grows 2 -> 4
    run(cache, 1);
    run(cache, 5); // grows 4 -> 9
    expect(cache.filled).toBe(9);
    expect(fedValues(cache)).toEqual([11, 111, 211, 311, 411, 511, 611, 711, 811]);
    const keys = cache.feeds()['past.0.key']!.data as Float32Array;
    expect(Array.from(keys.subarray(2 * ROW, 3 * ROW))).toEqual(Array.from({ length: ROW }, (_, j) => Math.fround(200 + j / 100)));
  });

  it('cut back to a prefix, writes the next run after it', () => {
    const cache = KvCache.for(fusedSession, cfg, 64, 16);
    run(cache, 6);
    cache.keepOnly(2);
    run(cache, 2);
    expect(fedValues(cache)).toEqual([11, 111, 211, 311]);
  });

  it('refuses to pass its limit', () => {
    const cache = KvCache.for(fusedSession, cfg, 4, 2);
    run(cache, 4);
    expect(() => cache.fetches(1)).toThrow(/exceed its capacity of 4/);
  });
});
