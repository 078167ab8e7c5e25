/**
 * Token generation over an inference session: prefill the prompt, then decode one token at a
 * time feeding the KV cache back in, until a stop token, a stop string, max tokens or cancel.
 */
import type { ModelConfig } from '../models/config.js';
import { loraInputName, PAST_LENGTH_INPUT, stackedAdapterLayout, stackedLoraInputName, TOKEN_ROWS_HEAD_INPUT, TOKEN_ROWS_INPUT } from '../models/inference-graph.js';
import { STACKED_GROUPS, type StackedGroup } from '../models/decoder.js';
import type { LoraTarget } from '../models/lora-targets.js';
import { floatTensor, int32Tensor, int64Tensor, type Session, type Tensor } from '../runtime/session.js';
import type { Adapter } from '../adapter/adapter.js';
import { Sampler, type SamplingParams } from './sampler.js';

export interface GenerateParams extends SamplingParams {
  maxTokens: number;
  stopTokenIds: number[];
  /** 0 = base model, 1 = tuned (only meaningful when the session has an adapter). */
  loraScale: number;
}


export interface GenerateCallbacks {
  onToken?: (token: number) => boolean | void; // return false to stop (e.g. a stop string matched)
  signal?: AbortSignal;
  /**
   * A cache that already holds the keys and values of the prompt's first `reused` ids (an earlier
   * turn of the same conversation): only the rest of the prompt is run. Default: a new cache.
   */
  cache?: { cache: KvCache; reused: number };
}

export interface GenerateOutcome {
  tokens: number[];
  stoppedBy: 'stop-token' | 'max-tokens' | 'callback' | 'cancelled';
  prefillSeconds: number;
  decodeSeconds: number;
  /** The ids whose keys and values the cache holds afterwards: the prompt and every answer token run (not the last one sampled). */
  cachedIds: number[];
}

/** What feeding an adapter needs of it (an Adapter; tests build their own). */
export type AdapterTensors = Pick<Adapter, 'rank' | 'alpha' | 'targets' | 'factors'> & Partial<Pick<Adapter, 'tokenRows'>>;

/**
 * Feeds that stay the same for every run of a session: the adapter's tensors, in the form the
 * session's graph takes (`inputNames`: q/k/v and gate/up adapters stacked where it has
 * the fused layers). A is fed times loraScale * alpha / rank (the graph applies no scale; 0
 * gives the base model).
 */
export function adapterFeeds(inputNames: readonly string[], cfg: ModelConfig, adapter: AdapterTensors | undefined, loraScale: number): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  if (!adapter) return feeds;
  const { rank, targets } = adapter;
  const scale = loraScale * (adapter.alpha / adapter.rank);
  const names = new Set(inputNames);
  const groups = (Object.keys(STACKED_GROUPS) as StackedGroup[]).map((group) => ({ group, ...stackedAdapterLayout(cfg, group, targets) })).filter((g) => g.adapted.length > 0);
  for (let l = 0; l < cfg.layers; l++) {
    const factors = (t: LoraTarget) => adapter.factors.get(`blk.${l}.${t}`)!;
    const stacked = groups.filter((g) => names.has(stackedLoraInputName(l, g.group, 'A')));
    for (const t of targets) {
      if (stacked.some((g) => g.adapted.includes(t))) continue;
      const f = factors(t);
      feeds[loraInputName(l, t, 'A')] = floatTensor(f.a.map((v) => v * scale), [rank, f.a.length / rank]);
      feeds[loraInputName(l, t, 'B')] = floatTensor(f.b, [f.b.length / rank, rank]);
    }
    for (const { group, adapted, rowOffset, rows } of stacked) {
      const width = adapted.length * rank;
      const a = new Float32Array(width * cfg.hidden);
      const b = new Float32Array(rows * width);
      adapted.forEach((t, j) => {
        const f = factors(t);
        for (let i = 0; i < f.a.length; i++) a[j * f.a.length + i] = f.a[i]! * scale;
        const offset = rowOffset.get(t)!;
        for (let r = 0; r < f.b.length / rank; r++) b.set(f.b.subarray(r * rank, (r + 1) * rank), (offset + r) * width + j * rank);
      });
      feeds[stackedLoraInputName(l, group, 'A')] = floatTensor(a, [width, cfg.hidden]);
      feeds[stackedLoraInputName(l, group, 'B')] = floatTensor(b, [rows, width]);
    }
  }
  if (adapter.tokenRows) {
    const n = adapter.tokenRows.ids.length;
    const blend = (base: Float32Array, tuned: Float32Array) => {
      // loraScale 0 must give the base model: blend the replaced rows towards the originals.
      const out = new Float32Array(tuned.length);
      for (let i = 0; i < out.length; i++) out[i] = base[i] + loraScale * (tuned[i] - base[i]);
      return out;
    };
    feeds[TOKEN_ROWS_INPUT] = floatTensor(blend(adapter.tokenRows.baseEmbed, adapter.tokenRows.embed), [n, cfg.hidden]);
    if (!cfg.tieEmbeddings && adapter.tokenRows.head && adapter.tokenRows.baseHead) {
      feeds[TOKEN_ROWS_HEAD_INPUT] = floatTensor(blend(adapter.tokenRows.baseHead, adapter.tokenRows.head), [n, cfg.hidden]);
    }
  }
  return feeds;
}

/**
 * The KV cache fed to an inference session, in one of the graph's two forms:
 * - with the fused layers (the graph has a `past_length` input): one buffer per layer and
 *   tensor, position-major (fed as [S, 1, KV, hd]), of which the filled prefix is fed, a view,
 *   so attention works on what is filled, not on the capacity (one masked position while nothing
 *   is filled: ORT's WebGPU provider crashes on empty tensors); the run outputs only its new
 *   positions in the same layout, appended here with one copy (onnxruntime-node copies every
 *   output into a new buffer: a whole cache as output cost a copy of the conversation per token);
 * - otherwise two buffers per layer and tensor used in turn, [1, KV, S, hd]: ORT writes each
 *   step's `present` (past + new) into one while reading `past` from the other.
 */
export class KvCache {
  private length = 0;
  private step = 0;
  private buffers: Float32Array[][];
  /** Appended form: where a run writes its new positions (grown to the longest run). */
  private scratch: Float32Array[] = [];
  /** Appended form: the fetches stay the same tensors from token to token. */
  private newViews?: { tokens: number; views: Record<string, Tensor> };
  /** Positions the buffers hold now: grown as runs fill them, up to `limit`. */
  private capacity: number;
  private constructor(private readonly cfg: ModelConfig, private readonly limit: number, private readonly appended: boolean, initial: number) {
    this.capacity = Math.max(1, Math.min(limit, initial));
    const size = cfg.kvHeads * this.capacity * cfg.headDim;
    this.buffers = (appended ? [0] : [0, 1]).map(() => Array.from({ length: cfg.layers * 2 }, () => new Float32Array(size)));
  }

  /**
   * A cache for up to `limit` positions in the form `session`'s graph takes. Its buffers start at
   * `initial` positions and double as they fill: a request for a very long answer (an API
   * client's max_tokens) allocates only what it uses.
   */
  static for(session: Session, cfg: ModelConfig, limit: number, initial = KV_CACHE_INITIAL_POSITIONS): KvCache {
    return new KvCache(cfg, limit, session.inputNames.includes(PAST_LENGTH_INPUT), initial);
  }

  /** The past feeds of the next run. */
  feeds(): Record<string, Tensor> {
    if (this.appended) return { ...this.views(this.buffers[0]!, Math.max(1, this.length), 'past'), [PAST_LENGTH_INPUT]: int32Tensor([this.length], [1]) };
    return this.views(this.buffers[(this.step + 1) % 2]!, this.length, 'past');
  }

  /** Where the next run of `tokens` new positions writes its present keys and values. */
  fetches(tokens: number): Record<string, Tensor> {
    if (this.length + tokens > this.limit) throw new Error(`KvCache: ${this.length} + ${tokens} positions exceed its capacity of ${this.limit}`);
    if (this.length + tokens > this.capacity) this.grow(this.length + tokens);
    if (!this.appended) return this.views(this.buffers[this.step % 2]!, this.length + tokens, 'present');
    if (this.newViews?.tokens !== tokens) {
      const size = this.cfg.kvHeads * tokens * this.cfg.headDim;
      if ((this.scratch[0]?.length ?? 0) < size) this.scratch = this.buffers[0]!.map(() => new Float32Array(size));
      this.newViews = { tokens, views: this.views(this.scratch, tokens, 'present') };
    }
    return this.newViews.views;
  }

  /** Positions filled. */
  get filled(): number {
    return this.length;
  }

  /** Whether `keepOnly` can forget positions (the buffer form with `past_length`). */
  get canKeepPrefix(): boolean {
    return this.appended;
  }

  /** Forgets every position from `positions` on (the next run writes after the kept prefix). */
  keepOnly(positions: number): void {
    if (!this.appended) throw new Error('KvCache: this form cannot forget positions');
    if (positions < 0 || positions > this.length) throw new Error(`KvCache: cannot keep ${positions} of ${this.length} positions`);
    this.length = positions;
  }

  /** After a run: its `tokens` positions are in the cache. */
  advance(tokens: number): void {
    if (this.appended) {
      // Position-major: the new rows go right after the filled ones.
      const row = this.cfg.kvHeads * this.cfg.headDim;
      this.buffers[0]!.forEach((buffer, i) => buffer.set(this.scratch[i]!.subarray(0, tokens * row), this.length * row));
    }
    this.length += tokens;
    this.step++;
  }

  /** New buffers for at least `needed` positions (twice the old, up to the limit), the filled rows copied over. */
  private grow(needed: number): void {
    const capacity = Math.min(this.limit, Math.max(needed, 2 * this.capacity));
    const row = this.cfg.kvHeads * this.cfg.headDim;
    // Both forms keep their filled positions at the start of the buffer: [length, KV, hd] or
    // [KV, length, hd] (the two-buffer form's `present` is written whole each run).
    const filled = this.appended ? this.length * row : this.buffers[0]![0]!.length;
    this.buffers = this.buffers.map((side) =>
      side.map((old) => {
        const buffer = new Float32Array(row * capacity);
        buffer.set(old.subarray(0, filled));
        return buffer;
      }),
    );
    this.capacity = capacity;
  }

  private views(side: Float32Array[], length: number, role: 'past' | 'present'): Record<string, Tensor> {
    const { kvHeads, headDim, layers } = this.cfg;
    const dims = this.appended ? [length, 1, kvHeads, headDim] : [1, kvHeads, length, headDim];
    const views: Record<string, Tensor> = {};
    for (let l = 0; l < layers; l++) {
      for (const [i, kind] of [[0, 'key'], [1, 'value']] as const) {
        views[`${role}.${l}.${kind}`] = floatTensor(side[2 * l + i]!.subarray(0, kvHeads * length * headDim), dims);
      }
    }
    return views;
  }
}

/** Where a KV cache's buffers start (positions; see KvCache.for). */
export const KV_CACHE_INITIAL_POSITIONS = 256;

/** The logits of one pass over `ids` from an empty cache (every position's, in a graph built for them). */
export async function forwardPass(session: Session, cfg: ModelConfig, ids: number[], extra: Record<string, Tensor> = {}): Promise<Float32Array> {
  const cache = KvCache.for(session, cfg, ids.length);
  const out = await session.run({ input_ids: int64Tensor(ids, [1, ids.length]), ...cache.feeds(), ...extra }, { logits: null, ...cache.fetches(ids.length) });
  return out.logits.data as Float32Array;
}

export async function generateTokens(
  session: Session,
  cfg: ModelConfig,
  promptIds: number[],
  params: GenerateParams,
  fixedFeeds: Record<string, Tensor>,
  cb: GenerateCallbacks = {},
): Promise<GenerateOutcome> {
  if (promptIds.length === 0) throw new Error('generateTokens: the prompt is empty');
  const sampler = new Sampler(params);
  const stops = new Set(params.stopTokenIds);
  const tokens: number[] = [];
  const history = [...promptIds];
  const reused = cb.cache?.reused ?? 0;
  if (reused >= promptIds.length) throw new Error('generateTokens: at least one prompt id must be run');
  let input = promptIds.slice(reused);
  const cache = cb.cache?.cache ?? KvCache.for(session, cfg, promptIds.length + params.maxTokens);
  let stoppedBy: GenerateOutcome['stoppedBy'] = 'max-tokens';
  const t0 = performance.now();
  let tPrefill = 0;
  for (let step = 0; step < params.maxTokens; step++) {
    if (cb.signal?.aborted) {
      stoppedBy = 'cancelled';
      break;
    }
    const out = await session.run({ input_ids: int64Tensor(input, [1, input.length]), ...cache.feeds(), ...fixedFeeds }, { logits: null, ...cache.fetches(input.length) });
    cache.advance(input.length);
    if (step === 0) tPrefill = performance.now();
    const token = sampler.next(out.logits.data as Float32Array, history);
    if (stops.has(token)) {
      stoppedBy = 'stop-token';
      break;
    }
    tokens.push(token);
    history.push(token);
    if (cb.onToken?.(token) === false) {
      stoppedBy = 'callback';
      break;
    }
    input = [token];
  }
  const t1 = performance.now();
  return { tokens, stoppedBy, prefillSeconds: (tPrefill - t0) / 1000, decodeSeconds: (t1 - (tPrefill || t1)) / 1000, cachedIds: history.slice(0, cache.filled) };
}
