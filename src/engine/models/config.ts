/**
 * The model blueprint: static dimensions and switches read from a Hugging Face config.json
 * (or built from GGUF metadata). Weights and run state are separate types.
 */
import { AttuneError } from '../../shared/errors.js';
import { findArchitecture, supportedArchitecturesText, type ArchitectureRow } from './architectures.js';

export type RopeScaling =
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  | { type: 'linear'; factor: number };

export interface ModelConfig {
  arch: ArchitectureRow;
  hidden: number;
  ffn: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  rmsEps: number;
  ropeTheta: number;
  ropeScaling?: RopeScaling;
  maxPositions: number;
  tieEmbeddings: boolean;
  bosTokenId?: number;
  eosTokenIds: number[];
  /** The dtype the weights are stored in (F32, F16, BF16 or a GGUF type). */
  torchDtype?: string;
}

export function parseHfConfig(raw: Record<string, unknown>, file = 'config.json'): ModelConfig {
  const modelType = typeof raw.model_type === 'string' ? raw.model_type : undefined;
  const arch = findArchitecture(modelType);
  if (!arch) {
    throw new AttuneError('model.unsupported-architecture', { file, modelType: modelType ?? '(none)', supported: supportedArchitecturesText() }, { file, field: 'model_type' });
  }
  const int = (key: string, fallback?: number): number => {
    const v = raw[key];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw new AttuneError('model.config-field-missing', { file, key }, { file, field: key });
    }
    throw new AttuneError('model.config-field-not-count', { file, key, value: JSON.stringify(v) }, { file, field: key });
  };
  const num = (key: string, fallback: number): number => {
    const v = raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    throw new AttuneError('model.config-field-not-number', { file, key, value: JSON.stringify(v) }, { file, field: key });
  };
  const hidden = int('hidden_size');
  const heads = int('num_attention_heads');
  const kvHeads = int('num_key_value_heads', heads);
  if (heads % kvHeads !== 0) {
    throw new AttuneError('model.config-kv-heads', { file, heads, kvHeads }, { file, field: 'num_key_value_heads' });
  }
  const headDim = raw.head_dim != null ? int('head_dim') : hidden / heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new AttuneError('model.config-head-dim', { file, headDim }, { file, field: 'head_dim' });
  }
  const eos = raw.eos_token_id;
  const eosTokenIds = typeof eos === 'number' ? [eos] : Array.isArray(eos) ? eos.filter((x): x is number => typeof x === 'number') : [];
  return {
    arch,
    hidden,
    ffn: int('intermediate_size'),
    layers: int('num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
    vocab: int('vocab_size'),
    rmsEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    ropeScaling: parseRopeScaling(raw.rope_scaling, file),
    maxPositions: int('max_position_embeddings', 2048),
    tieEmbeddings: raw.tie_word_embeddings === true,
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : undefined,
    eosTokenIds,
    torchDtype: typeof raw.torch_dtype === 'string' ? raw.torch_dtype : undefined,
  };
}

function parseRopeScaling(v: unknown, file: string): RopeScaling | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'object') throw new AttuneError('model.config-rope-scaling', { file }, { file, field: 'rope_scaling' });
  const r = v as Record<string, number | string>;
  const type = r.rope_type ?? r.type;
  if (type === 'default') return undefined;
  if (type === 'llama3') {
    return {
      type: 'llama3',
      factor: Number(r.factor),
      lowFreqFactor: Number(r.low_freq_factor),
      highFreqFactor: Number(r.high_freq_factor),
      originalMaxPositions: Number(r.original_max_position_embeddings),
    };
  }
  if (type === 'linear') return { type: 'linear', factor: Number(r.factor) };
  throw new AttuneError('model.rope-unsupported', { file, type: String(type) }, { file, field: 'rope_scaling' });
}

/** RoPE inverse frequencies, with Llama-3 / linear scaling folded in at build time. */
export function ropeInverseFrequencies(cfg: ModelConfig): Float32Array {
  const half = cfg.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(cfg.ropeTheta, (2 * i) / cfg.headDim);
  const s = cfg.ropeScaling;
  if (s?.type === 'linear') for (let i = 0; i < half; i++) inv[i] /= s.factor;
  if (s?.type === 'llama3') {
    // transformers' _compute_llama3_parameters: long wavelengths are slowed by `factor`,
    // short ones kept, and the band between smoothly interpolated.
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] = inv[i] / s.factor;
      else if (wavelen >= highWavelen) {
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = (1 - smooth) * (inv[i] / s.factor) + smooth * inv[i];
      }
    }
  }
  return Float32Array.from(inv);
}

export function parameterCount(cfg: ModelConfig): number {
  const q = cfg.heads * cfg.headDim;
  const kv = cfg.kvHeads * cfg.headDim;
  const perLayer =
    cfg.hidden * (q + 2 * kv) + q * cfg.hidden + 3 * cfg.hidden * cfg.ffn + 2 * cfg.hidden +
    (cfg.arch.qkvBias ? q + 2 * kv : 0) + (cfg.arch.qkNorm ? 2 * cfg.headDim : 0);
  return cfg.vocab * cfg.hidden * (cfg.tieEmbeddings ? 1 : 2) + cfg.layers * perLayer + cfg.hidden;
}
