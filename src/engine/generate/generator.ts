/**
 * Token generation over an inference session: prefill the prompt, then decode one token at a
 * time feeding the KV cache back in, until a stop token, a stop string, max tokens or cancel.
 */
import type { ModelConfig } from '../models/config.js';
import { loraInputName, TOKEN_ROWS_HEAD_INPUT, TOKEN_ROWS_INPUT } from '../models/inference-graph.js';
import { floatTensor, int64Tensor, type Session, type Tensor } from '../runtime/session.js';
import type { Adapter } from '../adapter/adapter.js';
import { Sampler, type SamplingParams } from './sampler.js';

export interface GenerateParams extends SamplingParams {
  maxTokens: number;
  stopTokenIds: number[];
  /** 0 = base model, 1 = tuned (only meaningful when the session has an adapter). */
  loraScale: number;
}

export interface GenerateStep {
  token: number;
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

/** Feeds that stay the same for every run of a session: the adapter's tensors. */
export function adapterFeeds(cfg: ModelConfig, adapter: Adapter | undefined, loraScale: number): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  if (!adapter) return feeds;
  feeds.lora_scale = floatTensor(Float32Array.of(loraScale * (adapter.alpha / adapter.rank)), []);
  for (let l = 0; l < cfg.layers; l++) {
    for (const t of adapter.targets) {
      const f = adapter.factors.get(`blk.${l}.${t}`)!;
      feeds[loraInputName(l, t, 'A')] = floatTensor(f.a, [adapter.rank, f.a.length / adapter.rank]);
      feeds[loraInputName(l, t, 'B')] = floatTensor(f.b, [f.b.length / adapter.rank, adapter.rank]);
    }
  }
  if (adapter.tokenRows) {
    const n = adapter.tokenRows.ids.length;
    const blend = (base: Float32Array, tuned: Float32Array) => {
      // lora_scale 0 must give the base model: blend the replaced rows towards the originals.
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
  let stoppedBy: GenerateOutcome['stoppedBy'] = 'max-tokens';
  const t0 = performance.now();
  let tPrefill = 0;
  for (let step = 0; step < params.maxTokens; step++) {
    if (cb.signal?.aborted) {
      stoppedBy = 'cancelled';
      break;
    }
    const out = await session.run({ input_ids: int64Tensor(input, [1, input.length]), ...past, ...fixedFeeds });
    if (step === 0) tPrefill = performance.now();
    const next: Record<string, Tensor> = {};
    for (let l = 0; l < cfg.layers; l++) {
      next[`past.${l}.key`] = out[`present.${l}.key`];
      next[`past.${l}.value`] = out[`present.${l}.value`];
    }
    past = next;
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
