/**
 * Picks the next token from a row of logits: repetition penalty, temperature, top-k, top-p,
 * with a seeded generator so the same seed gives the same text. Temperature 0 is greedy.
 *
 * Candidates are ranked by logit, highest first (ties: the lower id first). Only the head of that
 * ranking is ever read (the top k, the nucleus, or the tokens before the random draw lands), so it
 * is sorted only as far as needed: the tokens within a margin of the best logit, the margin
 * doubled until they hold enough. Sorting the whole vocabulary for every token cost 25 ms a token
 * at 49k entries and 71 ms at 152k (Qwen), several times the model's own decode step.
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
    const ranking = new Ranking(row, p.temperature);
    if (p.topK > 0 && p.topK < row.length) return this.pick(ranking.top(p.topK), row, ranking.max);
    // Every token is a candidate: their total weight, then only as much of the ranking as is read.
    const total = ranking.totalWeight();
    const nucleus = p.topP < 1;
    const u = this.random();
    const need = nucleus ? p.topP * total : u * total;
    for (let head = ranking.headHolding(need); ; head = ranking.headHolding(Infinity)) {
      const picked = nucleus ? nucleusDraw(head, ranking, need, u) : walk(head, ranking, need);
      if (picked !== undefined) return picked;
      if (head.length === ranking.size) return head[head.length - 1]!;
    }
  }

  /** Top-k candidates, highest first: the nucleus among them, then the draw. */
  private pick(candidates: number[], row: Float32Array, max: number): number {
    const p = this.params;
    let probs = candidates.map((id) => Math.exp((row[id]! - max) / p.temperature));
    let total = sum(probs);
    if (p.topP < 1) {
      let cum = 0;
      let keep = 0;
      while (keep < candidates.length && cum < p.topP * total) cum += probs[keep++]!;
      candidates = candidates.slice(0, Math.max(1, keep));
      probs = probs.slice(0, candidates.length);
      total = sum(probs);
    }
    let r = this.random() * total;
    for (let i = 0; i < candidates.length; i++) {
      r -= probs[i]!;
      if (r <= 0) return candidates[i]!;
    }
    return candidates[candidates.length - 1]!;
  }
}

/**
 * Top-p: the smallest head of the ranking whose weight reaches `need`, then the draw within it
 * (u in [0, 1)); undefined if the nucleus reaches past `head`.
 */
function nucleusDraw(head: number[], ranking: Ranking, need: number, u: number): number | undefined {
  let cum = 0;
  let keep = 0;
  while (keep < head.length && cum < need) cum += ranking.weight(head[keep++]!);
  if (cum < need && head.length < ranking.size) return undefined;
  return walk(head.slice(0, Math.max(1, keep)), ranking, u * cum) ?? head[Math.max(1, keep) - 1];
}

/** The candidate where the running weight first reaches r; undefined if the head ends first. */
function walk(head: number[], ranking: Ranking, r: number): number | undefined {
  for (const id of head) {
    r -= ranking.weight(id);
    if (r <= 0) return id;
  }
  return undefined;
}

/** Logits ranked highest first, sorted only as far as a caller reads. */
class Ranking {
  readonly max: number;
  /** The lowest finite logit: a margin reaching it holds every token. */
  private readonly min: number;
  readonly size: number;
  private weights?: Float64Array;
  constructor(private readonly row: Float32Array, private readonly temperature: number) {
    let max = -Infinity;
    let min = Infinity;
    for (let i = 0; i < row.length; i++) {
      if (row[i]! > max) max = row[i]!;
      if (row[i]! < min && row[i]! > -Infinity) min = row[i]!; // masked (-Infinity) tokens rank last anyway
    }
    this.max = max;
    this.min = min;
    this.size = row.length;
  }

  /** exp((logit - max) / temperature): the unnormalised probability. */
  weight(id: number): number {
    return this.weights ? this.weights[id]! : Math.exp((this.row[id]! - this.max) / this.temperature);
  }

  totalWeight(): number {
    this.weights = new Float64Array(this.size);
    let total = 0;
    for (let i = 0; i < this.size; i++) total += this.weights[i] = Math.exp((this.row[i]! - this.max) / this.temperature);
    return total;
  }

  /** The k best ids, ranked: one pass keeping the best k seen in a heap (its root the worst). */
  top(k: number): number[] {
    const { row } = this;
    const heap: number[] = [];
    // Scanning ids upwards, a later id equal to the root ranks below it: only a larger logit enters.
    const worse = (a: number, b: number) => row[a]! < row[b]! || (row[a] === row[b] && a > b);
    const siftDown = (at: number) => {
      for (;;) {
        const l = 2 * at + 1, r = l + 1;
        let w = at;
        if (l < heap.length && worse(heap[l]!, heap[w]!)) w = l;
        if (r < heap.length && worse(heap[r]!, heap[w]!)) w = r;
        if (w === at) return;
        [heap[at], heap[w]] = [heap[w]!, heap[at]!];
        at = w;
      }
    };
    for (let i = 0; i < row.length; i++) {
      if (heap.length < k) {
        heap.push(i);
        for (let at = heap.length - 1; at > 0 && worse(heap[at]!, heap[(at - 1) >> 1]!); at = (at - 1) >> 1) {
          [heap[at], heap[(at - 1) >> 1]] = [heap[(at - 1) >> 1]!, heap[at]!];
        }
      } else if (row[i]! > row[heap[0]!]!) {
        heap[0] = i;
        siftDown(0);
      }
    }
    return heap.sort((a, b) => row[b]! - row[a]! || a - b);
  }

  /** A head of the ranking whose weight reaches `need` (the whole ranking for Infinity). */
  headHolding(need: number): number[] {
    return this.within((weight) => weight >= need);
  }

  /** Ranked ids within a margin of the best, the margin doubled until `enough` (or all ids). */
  private within(enough: (weight: number) => boolean): number[] {
    const { row } = this;
    for (let margin = this.temperature; ; margin *= 2) {
      const floor = this.max - margin;
      const all = !(floor > this.min);
      const ids: number[] = [];
      let weight = 0;
      for (let i = 0; i < row.length; i++) {
        if (all || row[i]! >= floor) {
          ids.push(i);
          if (this.weights) weight += this.weights[i]!;
        }
      }
      if (all || enough(weight)) return ids.sort((a, b) => row[b]! - row[a]! || a - b);
    }
  }
}

function sum(xs: number[]): number {
  return xs.reduce((s, x) => s + x, 0);
}
