/**
 * Train/validation split: seeded and stratified by length.
 *
 * The examples are sorted by length (total characters of their messages; ties by a seeded hash
 * of the id), cut into `nVal` consecutive groups of nearly equal size, and one example of each
 * group, drawn with the seed, goes to validation. So the validation set has short, medium and
 * long examples in the same proportions as the whole, its size is exact
 * (`round(n × valFraction)`, at least 1 when n >= 2 and valFraction > 0), and the split depends
 * only on the examples' content and the seed, not on their order in the file or on the model
 * (character length, not token length, so that two models are compared on the same examples).
 */
import type { Example } from './types.js';

export interface SplitOptions {
  valFraction: number;
  seed: number;
}

import { seededRandom } from '../util/random.js';

export { seededRandom };

function hashKey(key: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function validationCount(n: number, valFraction: number): number {
  if (!(valFraction > 0) || n < 2) return 0;
  return Math.min(n - 1, Math.max(1, Math.round(n * Math.min(valFraction, 1))));
}

/**
 * The core of the split over plain arrays (so a large import need not hold its examples):
 * returns the indices that go to validation, ascending.
 */
export function splitIndices(lengths: ArrayLike<number>, keys: readonly string[], opts: SplitOptions): number[] {
  const n = lengths.length;
  const nVal = validationCount(n, opts.valFraction);
  if (nVal === 0) return [];
  const tie = keys.map((k) => hashKey(k, opts.seed));
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || tie[a]! - tie[b]! || (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  const rand = seededRandom(opts.seed);
  const picked: number[] = [];
  for (let g = 0; g < nVal; g++) {
    const from = Math.floor((g * n) / nVal);
    const to = Math.floor(((g + 1) * n) / nVal);
    picked.push(order[from + Math.floor(rand() * (to - from))]!);
  }
  return picked.sort((a, b) => a - b);
}

export function exampleLength(e: Pick<Example, 'messages'>): number {
  let n = 0;
  for (const m of e.messages) n += m.content.length;
  return n;
}

export function splitExamples<T extends Pick<Example, 'id' | 'messages'>>(examples: readonly T[], opts: Partial<SplitOptions> = {}): { train: T[]; validation: T[] } {
  const o = { valFraction: opts.valFraction ?? 0.1, seed: opts.seed ?? 42 };
  const val = new Set(splitIndices(examples.map(exampleLength), examples.map((e) => e.id), o));
  const train: T[] = [];
  const validation: T[] = [];
  examples.forEach((e, i) => (val.has(i) ? validation : train).push(e));
  return { train, validation };
}
