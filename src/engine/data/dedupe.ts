/**
 * Duplicates.
 *
 * Exact: the same messages after trimming (same content hash, which is also the example's id).
 *
 * Near: the whole conversation is normalised (Unicode NFKC, lower case, everything but letters
 * and digits turned into spaces, spaces collapsed) and cut into word 3-gram shingles (single
 * words for texts shorter than three words). Two examples are near duplicates when the Jaccard
 * similarity of their shingle sets is >= 0.9, estimated with a 64-hash MinHash signature. Texts
 * whose normalised forms are equal are near duplicates of similarity 1 (e.g. they differ only in
 * case or punctuation). Candidates are found with LSH (8 bands of 8 hashes: a pair at Jaccard 0.9
 * becomes a candidate with probability 0.99, at 0.95 with 0.9998) and then checked on the full
 * signature. Memory: 256 bytes of signature and 8 small map entries per kept example; the text
 * itself is not kept.
 */
import { createHash } from 'node:crypto';
import type { ChatMessage } from '../tokenizer/chat-template.js';

export const NEAR_DUPLICATE_THRESHOLD = 0.9;
const NUM_HASHES = 64;
const BANDS = 8;
const ROWS = NUM_HASHES / BANDS;

/** Stable id of a conversation: a content hash of its roles and texts. */
export function conversationId(messages: ChatMessage[]): string {
  const h = createHash('sha256');
  for (const m of messages) {
    h.update(m.role);
    h.update('\u0000');
    h.update(m.content);
    h.update('\u0001');
  }
  return h.digest('base64url').slice(0, 16);
}

export function normaliseForSimilarity(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

const SEEDS = Array.from({ length: NUM_HASHES }, (_, i) => mix(0x9e3779b9 + i * 0x632be5ab));

export function minhashSignature(normalised: string): Uint32Array {
  const words = normalised.split(' ').filter(Boolean);
  const shingles = new Set<number>();
  if (words.length < 3) for (const w of words) shingles.add(fnv1a(w));
  else for (let i = 0; i + 3 <= words.length; i++) shingles.add(fnv1a(`${words[i]} ${words[i + 1]} ${words[i + 2]}`));
  const sig = new Uint32Array(NUM_HASHES).fill(0xffffffff);
  for (const s of shingles) {
    for (let k = 0; k < NUM_HASHES; k++) {
      const v = mix(s ^ SEEDS[k]!);
      if (v < sig[k]!) sig[k] = v;
    }
  }
  return sig;
}

export function signatureSimilarity(a: Uint32Array, b: Uint32Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

export interface DuplicateHit<T> {
  kind: 'exact' | 'near';
  first: T;
  /** 0..1; 1 for exact duplicates. */
  similarity: number;
}

/**
 * Remembers kept examples (their id, signature and a small payload, e.g. where they came from)
 * and says whether a new one duplicates one of them. `check` does not remember; call `add` for
 * the examples you keep.
 */
export class DuplicateIndex<T> {
  private readonly exact = new Map<string, number>();
  private readonly normal = new Map<string, number>();
  private readonly bands = new Map<number, number>();
  private readonly sigChunks: Uint32Array[] = [];
  private readonly payloads: T[] = [];
  private static readonly CHUNK = 4096;

  get size(): number {
    return this.payloads.length;
  }

  private signatureAt(i: number): Uint32Array {
    const chunk = this.sigChunks[Math.floor(i / DuplicateIndex.CHUNK)]!;
    const o = (i % DuplicateIndex.CHUNK) * NUM_HASHES;
    return chunk.subarray(o, o + NUM_HASHES);
  }

  private bandKeys(sig: Uint32Array): number[] {
    const keys: number[] = [];
    for (let b = 0; b < BANDS; b++) {
      let h = mix(b + 1);
      for (let r = 0; r < ROWS; r++) h = mix(h ^ sig[b * ROWS + r]!);
      keys.push(h);
    }
    return keys;
  }

  /** Prepared key material of one conversation, to pass to `check` and then `add`. */
  prepare(id: string, messages: ChatMessage[]): { id: string; normalHash: string; sig: Uint32Array } {
    const normal = normaliseForSimilarity(messages.map((m) => `${m.role} ${m.content}`).join(' '));
    return { id, normalHash: createHash('sha1').update(normal).digest('base64url'), sig: minhashSignature(normal) };
  }

  check(p: { id: string; normalHash: string; sig: Uint32Array }): DuplicateHit<T> | undefined {
    const e = this.exact.get(p.id);
    if (e !== undefined) return { kind: 'exact', first: this.payloads[e]!, similarity: 1 };
    const n = this.normal.get(p.normalHash);
    if (n !== undefined) return { kind: 'near', first: this.payloads[n]!, similarity: 1 };
    let best: { i: number; s: number } | undefined;
    for (const k of this.bandKeys(p.sig)) {
      const i = this.bands.get(k);
      if (i === undefined || best?.i === i) continue;
      const s = signatureSimilarity(p.sig, this.signatureAt(i));
      if (s >= NEAR_DUPLICATE_THRESHOLD && (!best || s > best.s)) best = { i, s };
    }
    return best ? { kind: 'near', first: this.payloads[best.i]!, similarity: best.s } : undefined;
  }

  add(p: { id: string; normalHash: string; sig: Uint32Array }, payload: T): void {
    const i = this.payloads.length;
    this.payloads.push(payload);
    this.exact.set(p.id, i);
    if (!this.normal.has(p.normalHash)) this.normal.set(p.normalHash, i);
    const c = Math.floor(i / DuplicateIndex.CHUNK);
    if (c === this.sigChunks.length) this.sigChunks.push(new Uint32Array(DuplicateIndex.CHUNK * NUM_HASHES));
    this.sigChunks[c]!.set(p.sig, (i % DuplicateIndex.CHUNK) * NUM_HASHES);
    for (const k of this.bandKeys(p.sig)) if (!this.bands.has(k)) this.bands.set(k, i);
  }
}
