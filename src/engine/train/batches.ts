/**
 * Micro-batches from tokenized conversations. Length bucketing: examples are shuffled (seeded),
 * then sorted by length within windows of 32 micro-batches, so a micro-batch holds examples of
 * similar length and little compute goes to padding, while the order still varies per epoch.
 * Padding is on the right; the causal mask means real tokens never see it.
 */
import { seededRandom } from '../util/random.js';

export interface TokenizedExample {
  ids: number[];
  /** 1 where the token is a target (assistant content or its end-of-turn token). */
  lossMask: Uint8Array | number[];
}

export interface MicroBatch {
  batch: number;
  seq: number;
  inputIds: number[];
  targets: number[];
  lossWeight: Float32Array;
  /** Response tokens that count towards the loss. */
  targetTokens: number;
  /** Real (non-padding) tokens. */
  tokens: number;
}

export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const random = seededRandom(seed);
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The order of example indices for one epoch, grouped into micro-batches. */
export function epochBatches(lengths: readonly number[], batchSize: number, seed: number): number[][] {
  const order = shuffled(lengths.map((_, i) => i), seed);
  const window = batchSize * 32;
  const batches: number[][] = [];
  for (let w = 0; w < order.length; w += window) {
    const part = order.slice(w, w + window).sort((a, b) => lengths[a] - lengths[b]);
    for (let i = 0; i < part.length; i += batchSize) batches.push(part.slice(i, i + batchSize));
  }
  // Shuffle the batches themselves so long ones are not always last in a window.
  return shuffled(batches, seed + 1);
}

/** Truncates to maxLength and builds inputs, next-token targets and loss weights. */
export function collate(examples: readonly TokenizedExample[], maxLength: number, padId: number): MicroBatch {
  const seqs = examples.map((e) => ({ ids: e.ids.slice(0, maxLength), mask: Array.from(e.lossMask).slice(0, maxLength) }));
  const seq = Math.max(2, ...seqs.map((s) => s.ids.length));
  const batch = seqs.length;
  const inputIds = new Array<number>(batch * seq).fill(padId);
  const targets = new Array<number>(batch * seq).fill(padId);
  const lossWeight = new Float32Array(batch * seq);
  let targetTokens = 0;
  let tokens = 0;
  seqs.forEach((s, b) => {
    tokens += s.ids.length;
    for (let t = 0; t < s.ids.length; t++) {
      inputIds[b * seq + t] = s.ids[t];
      // Position t predicts token t+1, which counts when it is a response token.
      if (t + 1 < s.ids.length) {
        targets[b * seq + t] = s.ids[t + 1];
        if (s.mask[t + 1]) {
          lossWeight[b * seq + t] = 1;
          targetTokens++;
        }
      }
    }
  });
  return { batch, seq, inputIds, targets, lossWeight, targetTokens, tokens };
}
