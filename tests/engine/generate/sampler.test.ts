import { describe, expect, it } from 'vitest';
import { argmax, Sampler, type SamplingParams } from '../../../src/engine/generate/sampler.js';
import { seededRandom } from '../../../src/engine/util/random.js';

/** The sampler as it was first written: the whole vocabulary sorted for every token. */
function referencePick(row: Float32Array, p: SamplingParams, random: () => number): number {
  if (p.temperature <= 0) return argmax(row);
  let candidates = Array.from(row.keys());
  candidates.sort((a, b) => row[b]! - row[a]!);
  if (p.topK > 0) candidates = candidates.slice(0, p.topK);
  const maxLogit = row[candidates[0]!]!;
  let probs = candidates.map((id) => Math.exp((row[id]! - maxLogit) / p.temperature));
  let total = probs.reduce((s, x) => s + x, 0);
  if (p.topP < 1) {
    let cum = 0;
    let keep = 0;
    while (keep < candidates.length && cum < p.topP * total) cum += probs[keep++]!;
    candidates = candidates.slice(0, Math.max(1, keep));
    probs = probs.slice(0, candidates.length);
    total = probs.reduce((s, x) => s + x, 0);
  }
  let r = random() * total;
  for (let i = 0; i < candidates.length; i++) {
    r -= probs[i]!;
    if (r <= 0) return candidates[i]!;
  }
  return candidates[candidates.length - 1]!;
}

function logits(n: number, seed: number, kind: 'spread' | 'ties' | 'masked' | 'flat'): Float32Array {
  const rnd = seededRandom(seed);
  return Float32Array.from({ length: n }, (_, i) => {
    if (kind === 'ties') return Math.floor(rnd() * 6); // many equal logits: ranked by id
    if (kind === 'masked') return i % 3 === 0 ? rnd() * 4 : -Infinity;
    if (kind === 'flat') return rnd() * 0.01;
    return (rnd() - 0.5) * 20;
  });
}

describe('Sampler', () => {
  const settings: Partial<SamplingParams>[] = [
    { temperature: 0.7, topK: 40, topP: 0.9 }, // the app's chat
    { temperature: 1, topK: 0, topP: 1 },
    { temperature: 0.5, topK: 0, topP: 0.95 },
    { temperature: 2, topK: 0, topP: 0.3 },
    { temperature: 1.3, topK: 5, topP: 1 },
    { temperature: 0.8, topK: 1, topP: 1 },
    { temperature: 1, topK: 5000, topP: 0.99 }, // k larger than the vocabulary
  ];
  for (const kind of ['spread', 'ties', 'masked', 'flat'] as const) {
    it(`draws the same tokens as sorting the whole vocabulary (${kind} logits)`, () => {
      for (const s of settings) {
        const params: SamplingParams = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, seed: 7, ...s };
        const sampler = new Sampler(params);
        const random = seededRandom(params.seed);
        const picks: number[] = [];
        for (let step = 0; step < 60; step++) {
          const row = logits(3000, 100 * step + kind.length, kind);
          const got = sampler.next(row, []);
          expect(got, `${kind} ${JSON.stringify(s)} step ${step}`).toBe(referencePick(row, params, random));
          picks.push(got);
        }
        // Not degenerate: sampling at these temperatures does not always pick the same token.
        if (s.topK !== 1 && kind !== 'ties') expect(new Set(picks).size).toBeGreaterThan(1);
      }
    });
  }

  it('is greedy at temperature 0 and with top-k 1', () => {
    const row = logits(5000, 3, 'spread');
    expect(new Sampler({ temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 1 }).next(row, [])).toBe(argmax(row));
    expect(new Sampler({ temperature: 5, topK: 1, topP: 1, repetitionPenalty: 1, seed: 1 }).next(row, [])).toBe(argmax(row));
  });

  it('draws tokens in proportion to softmax(logits / temperature)', () => {
    const row = Float32Array.of(2, 1, 0, -1, ...new Array(996).fill(-30));
    const sampler = new Sampler({ temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, seed: 11 });
    const counts = [0, 0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampler.next(row, [])]!++;
    const z = [2, 1, 0, -1].map(Math.exp);
    const total = z.reduce((a, b) => a + b);
    z.forEach((w, i) => expect(Math.abs(counts[i]! / n - w / total)).toBeLessThan(0.015));
  });

  it('applies the repetition penalty to tokens already said', () => {
    const row = Float32Array.of(3, 2.9, 0);
    const sampler = new Sampler({ temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1.5, seed: 1 });
    expect(sampler.next(row, [0])).toBe(1);
    expect(row[0]).toBe(3); // the caller's row is left as it was
  });
});
