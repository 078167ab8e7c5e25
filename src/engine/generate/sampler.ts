/**
 * Picks the next token from a row of logits: repetition penalty, temperature, top-k, top-p,
 * with a seeded generator so the same seed gives the same text. Temperature 0 is greedy.
 */
import { seededRandom } from '../util/random.js';

export interface SamplingParams {
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  seed: number;
}

export const DEFAULT_SAMPLING: SamplingParams = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0 };


export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

export class Sampler {
  private readonly random: () => number;
  constructor(private readonly params: SamplingParams) {
    this.random = seededRandom(params.seed);
  }

  next(logitsRow: Float32Array, previous: readonly number[]): number {
    const p = this.params;
    let row = logitsRow;
    if (p.repetitionPenalty !== 1 && previous.length) {
      row = Float32Array.from(logitsRow);
      // CTRL-style penalty as in transformers: shrink positive logits, grow negative ones.
      for (const id of new Set(previous)) row[id] = row[id] > 0 ? row[id] / p.repetitionPenalty : row[id] * p.repetitionPenalty;
    }
    if (p.temperature <= 0) return argmax(row);

    let candidates = Array.from(row.keys());
    candidates.sort((a, b) => row[b] - row[a]);
    if (p.topK > 0) candidates = candidates.slice(0, p.topK);
    const maxLogit = row[candidates[0]];
    let probs = candidates.map((id) => Math.exp((row[id] - maxLogit) / p.temperature));
    let total = probs.reduce((s, x) => s + x, 0);
    if (p.topP < 1) {
      let cum = 0;
      let keep = 0;
      while (keep < candidates.length && cum < p.topP * total) cum += probs[keep++];
      candidates = candidates.slice(0, Math.max(1, keep));
      probs = probs.slice(0, candidates.length);
      total = probs.reduce((s, x) => s + x, 0);
    }
    let r = this.random() * total;
    for (let i = 0; i < candidates.length; i++) {
      r -= probs[i];
      if (r <= 0) return candidates[i];
    }
    return candidates[candidates.length - 1];
  }
}
