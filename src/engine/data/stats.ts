/**
 * Length statistics and the training-time estimate.
 */
import type { Histogram, LengthStats } from './types.js';

/** Token count without a model: about four characters a token for English text (plus a few for the template). */
export function estimateTokens(chars: number, messages: number): number {
  return Math.ceil(chars / 4) + 4 * messages;
}

function niceStep(raw: number): number {
  if (raw <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return Math.ceil(m * p);
  return Math.ceil(10 * p);
}

/** Up to `bins` bins of a round width from 0 to the maximum. */
export function histogram(values: ArrayLike<number>, bins = 10): Histogram {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]!);
  const width = niceStep((max + 1) / bins);
  const nb = Math.max(1, Math.ceil((max + 1) / width));
  const counts = new Array<number>(nb).fill(0);
  for (let i = 0; i < values.length; i++) counts[Math.min(nb - 1, Math.floor(values[i]! / width))]!++;
  return { edges: Array.from({ length: nb + 1 }, (_, i) => i * width), counts };
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function lengthStats(values: ArrayLike<number>): LengthStats {
  const sorted = Uint32Array.from(values as ArrayLike<number>).sort();
  let total = 0;
  for (let i = 0; i < sorted.length; i++) total += sorted[i]!;
  return {
    min: sorted.length ? sorted[0]! : 0,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    max: sorted.length ? sorted[sorted.length - 1]! : 0,
    mean: sorted.length ? Math.round((total / sorted.length) * 10) / 10 : 0,
    total,
    histogram: histogram(sorted),
  };
}

/**
 * Training-time model: every token of every training example passes through the model once per
 * epoch (forward and backward; the masked prompt tokens cost as much as the learned ones), so
 * seconds = training tokens × epochs / tokens per second. The default rate is a conservative
 * figure for a ~100M-parameter model with LoRA on a laptop CPU; the trainer measures the real
 * rate on its first steps and the app passes it in.
 */
export function estimateTrainingSeconds(trainTokens: number, epochs: number, tokensPerSecond: number): number {
  if (!(tokensPerSecond > 0)) return 0;
  return Math.ceil((trainTokens * epochs) / tokensPerSecond);
}

/** A growable Uint32 list (lengths of many examples without an array of boxed numbers). */
export class U32List {
  private buf = new Uint32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const b = new Uint32Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.length++] = v;
  }
  view(): Uint32Array {
    return this.buf.subarray(0, this.length);
  }
}
