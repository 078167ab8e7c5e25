/**
 * Token generation over an inference session: prefill the prompt, then decode one token at a
 * time feeding the KV cache back in, until a stop token, a stop string, max tokens or cancel.
 */
import type { ModelConfig } from '../models/config.js';
import { loraInputName, qkvAdapterLayout, stackedLoraInputName, TOKEN_ROWS_HEAD_INPUT, TOKEN_ROWS_INPUT } from '../models/inference-graph.js';
import type { LoraTarget } from '../models/lora-targets.js';
import { floatTensor, int64Tensor, type Session, type Tensor } from '../runtime/session.js';
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
}

export interface GenerateOutcome {
  tokens: number[];
  stoppedBy: 'stop-token' | 'max-tokens' | 'callback' | 'cancelled';
  prefillSeconds: number;
  decodeSeconds: number;
}

/** What feeding an adapter needs of it (an Adapter; tests build their own). */
export type AdapterTensors = Pick<Adapter, 'rank' | 'alpha' | 'targets' | 'factors'> & Partial<Pick<Adapter, 'tokenRows'>>;

/**
 * Feeds that stay the same for every run of a session: the adapter's tensors, for the session's
 * graph (`inputNames`: q/k/v adapters stacked where it has GroupQueryAttention). A is fed times
 * loraScale * alpha / rank (the graph applies no scale; 0 gives the base model).
 */
export function adapterFeeds(inputNames: readonly string[], cfg: ModelConfig, adapter: AdapterTensors | undefined, loraScale: number): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  if (!adapter) return feeds;
  const { rank, targets } = adapter;
  const scale = loraScale * (adapter.alpha / adapter.rank);
  const names = new Set(inputNames);
  const { adapted, rowOffset, rows } = qkvAdapterLayout(cfg, targets);
  for (let l = 0; l < cfg.layers; l++) {
    const factors = (t: LoraTarget) => adapter.factors.get(`blk.${l}.${t}`)!;
    const stacked = adapted.length > 0 && names.has(stackedLoraInputName(l, 'A'));
    for (const t of targets) {
      if (stacked && adapted.includes(t)) continue;
      const f = factors(t);
      feeds[loraInputName(l, t, 'A')] = floatTensor(f.a.map((v) => v * scale), [rank, f.a.length / rank]);
      feeds[loraInputName(l, t, 'B')] = floatTensor(f.b, [f.b.length / rank, rank]);
    }
    if (!stacked) continue;
    const width = adapted.length * rank;
    const a = new Float32Array(width * cfg.hidden);
    const b = new Float32Array(rows * width);
    adapted.forEach((t, j) => {
      const f = factors(t);
      for (let i = 0; i < f.a.length; i++) a[j * f.a.length + i] = f.a[i]! * scale;
      const offset = rowOffset.get(t)!;
      for (let r = 0; r < f.b.length / rank; r++) b.set(f.b.subarray(r * rank, (r + 1) * rank), (offset + r) * width + j * rank);
    });
    feeds[stackedLoraInputName(l, 'A')] = floatTensor(a, [width, cfg.hidden]);
    feeds[stackedLoraInputName(l, 'B')] = floatTensor(b, [rows, width]);
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
 * The KV cache lives in two preallocated buffers per layer and tensor, used in turn: ORT writes
 * each step's `present` straight into one (no output copy, no allocation) while reading `past`
 * from the other. Layout [1, KV, S, hd] as the graph wants, so a step's tensors are views.
 */
class KvBuffers {
  private readonly buffers: ArrayBuffer[][];
  constructor(private readonly cfg: ModelConfig, maxTotal: number) {
    const bytes = cfg.kvHeads * maxTotal * cfg.headDim * 4;
    this.buffers = [0, 1].map(() => Array.from({ length: cfg.layers * 2 }, () => new ArrayBuffer(bytes)));
  }

  presentViews(step: number, total: number): Record<string, Tensor> {
    const { kvHeads, headDim, layers } = this.cfg;
    const side = this.buffers[step % 2];
    const views: Record<string, Tensor> = {};
    for (let l = 0; l < layers; l++) {
      views[`present.${l}.key`] = floatTensor(new Float32Array(side[2 * l], 0, kvHeads * total * headDim), [1, kvHeads, total, headDim]);
      views[`present.${l}.value`] = floatTensor(new Float32Array(side[2 * l + 1], 0, kvHeads * total * headDim), [1, kvHeads, total, headDim]);
    }
    return views;
  }

  asPast(present: Record<string, Tensor>): Record<string, Tensor> {
    const past: Record<string, Tensor> = {};
    for (let l = 0; l < this.cfg.layers; l++) {
      past[`past.${l}.key`] = present[`present.${l}.key`];
      past[`past.${l}.value`] = present[`present.${l}.value`];
    }
    return past;
  }
}

/** An empty KV cache (past length 0) for a batch of one. */
export function emptyPastFeeds(cfg: ModelConfig): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (let l = 0; l < cfg.layers; l++) {
    feeds[`past.${l}.key`] = floatTensor(new Float32Array(0), [1, cfg.kvHeads, 0, cfg.headDim]);
    feeds[`past.${l}.value`] = floatTensor(new Float32Array(0), [1, cfg.kvHeads, 0, cfg.headDim]);
  }
  return feeds;
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
  let past = emptyPastFeeds(cfg);
  const tokens: number[] = [];
  const history = [...promptIds];
  let input = promptIds;
  let pastLen = 0;
  const cache = new KvBuffers(cfg, promptIds.length + params.maxTokens);
  let stoppedBy: GenerateOutcome['stoppedBy'] = 'max-tokens';
  const t0 = performance.now();
  let tPrefill = 0;
  for (let step = 0; step < params.maxTokens; step++) {
    if (cb.signal?.aborted) {
      stoppedBy = 'cancelled';
      break;
    }
    const total = pastLen + input.length;
    const present = cache.presentViews(step, total);
    const out = await session.run({ input_ids: int64Tensor(input, [1, input.length]), ...past, ...fixedFeeds }, { logits: null, ...present });
    if (step === 0) tPrefill = performance.now();
    past = cache.asPast(present);
    pastLen = total;
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
  return { tokens, stoppedBy, prefillSeconds: (tPrefill - t0) / 1000, decodeSeconds: (t1 - (tPrefill || t1)) / 1000 };
}
