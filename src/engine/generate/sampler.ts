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
    const u = this.random();
    if (p.topK > 0 && p.topK < row.length) {
      const head = ranking.top(p.topK);
      return draw(head, ranking, head.reduce((s, id) => s + ranking.weight(id), 0), p.topP, u, true)!;
    }
    // Every token is a candidate: their total weight, then only as much of the ranking as is read.
    const total = ranking.totalWeight();
    const need = p.topP < 1 ? p.topP * total : u * total;
    for (let head = ranking.headHolding(need); ; head = ranking.headHolding(Infinity)) {
      const picked = draw(head, ranking, total, p.topP, u, head.length === ranking.size);
      if (picked !== undefined) return picked;
    }
  }
}

/**
 * The draw among ranked candidates `head` (highest first) out of candidates weighing `total`: the
 * nucleus (the smallest head reaching topP of the weight) where topP < 1, then the token where the
 * running weight first reaches u times the weight drawn from (u in [0, 1)). `complete`: `head`
 * holds every candidate; otherwise undefined when the draw reaches past it.
 */
function draw(head: number[], ranking: Ranking, total: number, topP: number, u: number, complete: boolean): number | undefined {
  if (topP >= 1) return walk(head, ranking, u * total) ?? (complete ? head[head.length - 1] : undefined);
  let cum = 0;
  let keep = 0;
  while (keep < head.length && cum < topP * total) cum += ranking.weight(head[keep++]!);
  if (cum < topP * total && !complete) return undefined;
  const nucleus = head.slice(0, Math.max(1, keep));
  return walk(nucleus, ranking, u * cum) ?? nucleus[nucleus.length - 1];
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

