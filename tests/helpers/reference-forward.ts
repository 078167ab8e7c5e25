/**
 * Naive float64 reference implementation of Hugging Face transformers' causal-LM forward for the
 * Llama family (model_type llama, mistral, qwen2, qwen3), written from the HF definitions
 * (modeling_llama.py, modeling_mistral.py, modeling_qwen2.py, modeling_qwen3.py,
 * modeling_rope_utils.py). It shares no code with src/engine: it exists to prove the engine right.
 *
 * ─── Conventions ─────────────────────────────────────────────────────────────────────────────
 * Logits: `referenceForward` returns a Float64Array of length T*vocab, row-major [T, vocab];
 *   row t is the prediction of the token at index t+1 given tokens 0..t (positions 0..T-1).
 *
 * Loss mask (same as HF `labels` with -100 for ignored tokens, before HF's internal shift):
 *   `lossMask` has length T, aligned with `tokenIds`. `lossMask[t] != 0` means token `tokenIds[t]`
 *   is a TARGET, predicted from the logits at position t-1. `lossMask[0]` must be 0 (nothing
 *   predicts the first token; a non-zero value throws, to catch off-by-one mistakes).
 *   loss = (1/N) * Σ_{t≥1, mask[t]≠0} −log softmax(logits[t−1])[tokenIds[t]],  N = #masked targets.
 *   For a batch (several sequences) the mean is over all masked targets of all sequences (token
 *   mean, not mean of per-sequence means); sequences never attend to each other.
 *
 * LoRA (PEFT semantics): for each targeted linear W [out, in] (HF nn.Linear layout),
 *   W_eff = W + scaling * B @ A,  A: [rank, in] (lora_A.weight), B: [out, rank] (lora_B.weight),
 *   scaling = loraScale * alpha / rank  (loraScale defaults to 1; 0 gives the base model).
 *   Biases are not adapted. Keys of the A/B maps are HF module paths, e.g.
 *   `model.layers.0.self_attn.q_proj`, `model.layers.1.mlp.down_proj`. Also accepted on input
 *   (normalised to the HF path): PEFT names (`base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`),
 *   a trailing `.weight`, and GGUF-style `blk.0.attn_q` / `attn_k` / `attn_v` / `attn_output` /
 *   `ffn_gate` / `ffn_up` / `ffn_down`. Every (layer, target) pair must have both A and B.
 *   Gradient maps returned by `referenceLoraGrads` are keyed by the HF module path.
 *
 * Semantics implemented (float64 throughout; HF computes norms/softmax/RoPE in float32):
 *   x = embed_tokens[ids]
 *   per layer: h = RMSNorm(x; input_layernorm) ; q,k,v = h W^T (+ bias: qwen2 q/k/v; llama/qwen3
 *     when attention_bias, which also biases o_proj) ; qwen3: q_norm/k_norm = RMSNorm over head_dim
 *     per head, BEFORE RoPE ; RoPE rotate_half (pairs i, i+d/2), inv_freq_i = theta^(-2i/d), with
 *     llama3 / linear rope_scaling ; GQA: q head h uses kv head floor(h / (heads/kvHeads)) ;
 *     causal softmax(q·k / sqrt(head_dim)) (sliding window when configured) ; o_proj ; residual ;
 *     RMSNorm(post_attention_layernorm) ; down(silu(gate(h)) * up(h)) (+ mlp_bias) ; residual.
 *   final RMSNorm(model.norm) ; lm_head (= embed_tokens when tie_word_embeddings).
 *   RMSNorm(x) = x / sqrt(mean(x²) + rms_norm_eps) * w.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from './prng.js';
import { readSafetensors, type StTensorOut } from './safetensors.js';

// ───────────────────────────── loading ─────────────────────────────

export interface ReferenceConfig {
  modelType: 'llama' | 'mistral' | 'qwen2' | 'qwen3';
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  vocab: number;
  eps: number;
  ropeTheta: number;
  tie: boolean;
  /** q/k/v projections have biases. */
  qkvBias: boolean;
  /** o_proj has a bias. */
  oBias: boolean;
  /** gate/up/down have biases. */
  mlpBias: boolean;
  /** qwen3 per-head q_norm / k_norm. */
  qkNorm: boolean;
  /** Sliding window per layer (null = full causal). */
  slidingWindow: (number | null)[];
  /** RoPE inverse frequencies, length headDim/2 (after rope_scaling). */
  invFreq: Float64Array;
  /** RoPE attention_factor (1 for default/llama3/linear). */
  ropeAttentionFactor: number;
}

export interface ReferenceModel {
  dir: string;
  rawConfig: Record<string, unknown>;
  config: ReferenceConfig;
  /** All tensors, decoded to float64 (row-major, HF shapes). */
  weights: Map<string, Float64Array>;
  shapes: Map<string, number[]>;
}

/** Read every tensor of an HF folder: model.safetensors or model.safetensors.index.json shards. */
export function readHfWeights(dir: string): Map<string, StTensorOut> {
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const idx = JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> };
    const files = [...new Set(Object.values(idx.weight_map))];
    const all = new Map<string, StTensorOut>();
    for (const f of files) {
      for (const [name, t] of readSafetensors(join(dir, f))) {
        if (idx.weight_map[name] !== f) throw new Error(`${name} found in ${f} but index says ${idx.weight_map[name]}`);
        all.set(name, t);
      }
    }
    for (const name of Object.keys(idx.weight_map)) if (!all.has(name)) throw new Error(`${name} missing from shards`);
    return all;
  }
  return readSafetensors(join(dir, 'model.safetensors'));
}

function num(cfg: Record<string, unknown>, key: string, dflt?: number): number {
  const v = cfg[key];
  if (typeof v === 'number') return v;
  if ((v === undefined || v === null) && dflt !== undefined) return dflt;
  throw new Error(`config.json: ${key} missing or not a number`);
}

/** HF `_compute_default_rope_parameters` + `_compute_llama3_parameters` / linear, in float64. */
export function ropeInvFreq(
  headDim: number,
  theta: number,
  ropeScaling: Record<string, unknown> | null | undefined,
): { invFreq: Float64Array; attentionFactor: number } {
  const half = headDim / 2;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / Math.pow(theta, (2 * i) / headDim);
  if (!ropeScaling) return { invFreq, attentionFactor: 1 };
  const type = (ropeScaling['rope_type'] ?? ropeScaling['type']) as string | undefined;
  if (type === undefined || type === 'default') return { invFreq, attentionFactor: 1 };
  if (type === 'linear') {
    const factor = ropeScaling['factor'] as number;
    for (let i = 0; i < half; i++) invFreq[i] = invFreq[i]! / factor;
    return { invFreq, attentionFactor: 1 };
  }
  if (type === 'llama3') {
    const factor = ropeScaling['factor'] as number;
    const low = ropeScaling['low_freq_factor'] as number;
    const high = ropeScaling['high_freq_factor'] as number;
    const oldCtx = ropeScaling['original_max_position_embeddings'] as number;
    const lowFreqWavelen = oldCtx / low;
    const highFreqWavelen = oldCtx / high;
    for (let i = 0; i < half; i++) {
      const f = invFreq[i]!;
      const wavelen = (2 * Math.PI) / f;
      // wavelen < high_freq_wavelen: unchanged; wavelen > low_freq_wavelen: f / factor; else smooth.
      const fLlama = wavelen > lowFreqWavelen ? f / factor : f;
      const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
      if (isMedium) {
        const smooth = (oldCtx / wavelen - low) / (high - low);
        invFreq[i] = ((1 - smooth) * fLlama) / factor + smooth * fLlama;
      } else {
        invFreq[i] = fLlama;
      }
    }
    return { invFreq, attentionFactor: 1 };
  }
  throw new Error(`reference: rope_scaling type ${type} not implemented`);
}

export function parseReferenceConfig(cfg: Record<string, unknown>): ReferenceConfig {
  const modelType = cfg['model_type'];
  if (modelType !== 'llama' && modelType !== 'mistral' && modelType !== 'qwen2' && modelType !== 'qwen3') {
    throw new Error(`reference: unsupported model_type ${String(modelType)}`);
  }
  const act = cfg['hidden_act'] ?? 'silu';
  if (act !== 'silu') throw new Error(`reference: hidden_act ${String(act)} not supported`);
  const hidden = num(cfg, 'hidden_size');
  const heads = num(cfg, 'num_attention_heads');
  const kvHeads = num(cfg, 'num_key_value_heads', heads);
  const headDim = num(cfg, 'head_dim', hidden / heads);
  const layers = num(cfg, 'num_hidden_layers');
  const attentionBias = cfg['attention_bias'] === true;
  let qkvBias = false;
  let oBias = false;
  let mlpBias = false;
  if (modelType === 'llama') {
    qkvBias = oBias = attentionBias;
    mlpBias = cfg['mlp_bias'] === true;
  } else if (modelType === 'qwen2') {
    qkvBias = true; // Qwen2Attention: q/k/v bias=True, o_proj bias=False (hard-coded)
  } else if (modelType === 'qwen3') {
    qkvBias = oBias = attentionBias;
  }
  const slidingWindow: (number | null)[] = [];
  const sw = cfg['sliding_window'];
  for (let l = 0; l < layers; l++) {
    let w: number | null = null;
    if (typeof sw === 'number') {
      const layerTypes = cfg['layer_types'];
      if (Array.isArray(layerTypes)) {
        w = layerTypes[l] === 'sliding_attention' ? sw : null;
      } else if (modelType === 'mistral') {
        w = sw;
      } else if (cfg['use_sliding_window'] === true) {
        w = l >= num(cfg, 'max_window_layers', 0) ? sw : null;
      }
    }
    slidingWindow.push(w);
  }
  const ropeTheta = num(cfg, 'rope_theta', 10000);
  const { invFreq, attentionFactor } = ropeInvFreq(
    headDim,
    ropeTheta,
    cfg['rope_scaling'] as Record<string, unknown> | null | undefined,
  );
  return {
    modelType,
    hidden,
    layers,
    heads,
    kvHeads,
    headDim,
    ffn: num(cfg, 'intermediate_size'),
    vocab: num(cfg, 'vocab_size'),
    eps: num(cfg, 'rms_norm_eps', 1e-6),
    ropeTheta,
    // LlamaConfig/MistralConfig/Qwen2Config/Qwen3Config all default tie_word_embeddings to False.
    tie: cfg['tie_word_embeddings'] === true,
    qkvBias,
    oBias,
    mlpBias,
    qkNorm: modelType === 'qwen3',
    slidingWindow,
    invFreq,
    ropeAttentionFactor: attentionFactor,
  };
}

/** Load config.json + all safetensors of an HF folder and check every tensor the forward needs. */
export function loadReferenceModel(dir: string): ReferenceModel {
  const rawConfig = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const config = parseReferenceConfig(rawConfig);
  const weights = new Map<string, Float64Array>();
  const shapes = new Map<string, number[]>();
  for (const [name, t] of readHfWeights(dir)) {
    weights.set(name, t.data);
    shapes.set(name, t.shape);
  }
  const c = config;
  const expect = (name: string, shape: number[]): void => {
    const s = shapes.get(name);
    if (!s) throw new Error(`reference: tensor ${name} missing`);
    if (s.join(',') !== shape.join(',')) throw new Error(`reference: ${name} has shape [${s}], expected [${shape}]`);
  };
  expect('model.embed_tokens.weight', [c.vocab, c.hidden]);
  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}`;
    expect(`${p}.input_layernorm.weight`, [c.hidden]);
    expect(`${p}.post_attention_layernorm.weight`, [c.hidden]);
    expect(`${p}.self_attn.q_proj.weight`, [c.heads * c.headDim, c.hidden]);
    expect(`${p}.self_attn.k_proj.weight`, [c.kvHeads * c.headDim, c.hidden]);
    expect(`${p}.self_attn.v_proj.weight`, [c.kvHeads * c.headDim, c.hidden]);
    expect(`${p}.self_attn.o_proj.weight`, [c.hidden, c.heads * c.headDim]);
    if (c.qkvBias) {
      expect(`${p}.self_attn.q_proj.bias`, [c.heads * c.headDim]);
      expect(`${p}.self_attn.k_proj.bias`, [c.kvHeads * c.headDim]);
      expect(`${p}.self_attn.v_proj.bias`, [c.kvHeads * c.headDim]);
    }
    if (c.oBias) expect(`${p}.self_attn.o_proj.bias`, [c.hidden]);
    if (c.qkNorm) {
      expect(`${p}.self_attn.q_norm.weight`, [c.headDim]);
      expect(`${p}.self_attn.k_norm.weight`, [c.headDim]);
    }
    expect(`${p}.mlp.gate_proj.weight`, [c.ffn, c.hidden]);
    expect(`${p}.mlp.up_proj.weight`, [c.ffn, c.hidden]);
    expect(`${p}.mlp.down_proj.weight`, [c.hidden, c.ffn]);
    if (c.mlpBias) {
      expect(`${p}.mlp.gate_proj.bias`, [c.ffn]);
      expect(`${p}.mlp.up_proj.bias`, [c.ffn]);
      expect(`${p}.mlp.down_proj.bias`, [c.hidden]);
    }
  }
  expect('model.norm.weight', [c.hidden]);
  if (!c.tie) expect('lm_head.weight', [c.vocab, c.hidden]);
  return { dir, rawConfig, config, weights, shapes };
}

function asModel(m: string | ReferenceModel): ReferenceModel {
  return typeof m === 'string' ? loadReferenceModel(m) : m;
}

// ───────────────────────────── LoRA ─────────────────────────────

export type LoraTarget = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';
export const ALL_LORA_TARGETS: readonly LoraTarget[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];

export interface ReferenceLora {
  rank: number;
  alpha: number;
  targets: readonly LoraTarget[];
  /** HF module path -> A, row-major [rank, in]. */
  A: Map<string, Float64Array>;
  /** HF module path -> B, row-major [out, rank]. */
  B: Map<string, Float64Array>;
  /** Multiplies the scaling (like the engine's `lora_scale` input); default 1. */
  loraScale?: number;
}

const TARGET_SUFFIX: Record<LoraTarget, string> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
};
const GGUF_SUFFIX: Record<string, LoraTarget> = {
  attn_q: 'q',
  attn_k: 'k',
  attn_v: 'v',
  attn_output: 'o',
  ffn_gate: 'gate',
  ffn_up: 'up',
  ffn_down: 'down',
};

/** HF module path of a LoRA target, e.g. (0, 'q') -> 'model.layers.0.self_attn.q_proj'. */
export function loraModulePath(layer: number, target: LoraTarget): string {
  return `model.layers.${layer}.${TARGET_SUFFIX[target]}`;
}

/** Normalise a LoRA key (HF path, PEFT tensor name, `.weight` suffix, or GGUF `blk.N.attn_q`) to the HF module path. */
export function normalizeLoraKey(key: string): string {
  let k = key.replace(/^base_model\.model\./, '');
  k = k.replace(/\.lora_[AB](\.default)?\.weight$/, '').replace(/\.weight$/, '');
  const m = /^blk\.(\d+)\.([a-z_]+)$/.exec(k);
  if (m) {
    const t = GGUF_SUFFIX[m[2]!];
    if (!t) throw new Error(`unknown LoRA key ${key}`);
    return loraModulePath(Number(m[1]), t);
  }
  return k;
}

/** [out, in] of the linear a target adapts. */
export function loraModuleShape(model: ReferenceModel, target: LoraTarget): { out: number; in: number } {
  const s = model.shapes.get(`${loraModulePath(0, target)}.weight`)!;
  return { out: s[0]!, in: s[1]! };
}

/** All HF module paths a LoRA with these targets adapts (layer-major, then targets in the given order). */
export function loraModulePaths(model: ReferenceModel, targets: readonly LoraTarget[]): string[] {
  const out: string[] = [];
  for (let l = 0; l < model.config.layers; l++) for (const t of targets) out.push(loraModulePath(l, t));
  return out;
}

/**
 * Random LoRA for tests. Unlike PEFT's init (B = 0), B is random too by default so that the
 * adapter changes the logits; pass stdB: 0 for PEFT's init.
 */
export function makeRandomLora(
  model: string | ReferenceModel,
  opts: { rank: number; alpha: number; targets: readonly LoraTarget[]; seed?: number; stdA?: number; stdB?: number },
): ReferenceLora {
  const m = asModel(model);
  const rng = new Rng(opts.seed ?? 99);
  const A = new Map<string, Float64Array>();
  const B = new Map<string, Float64Array>();
  for (let l = 0; l < m.config.layers; l++) {
    for (const t of opts.targets) {
      const { out, in: inn } = loraModuleShape(m, t);
      const path = loraModulePath(l, t);
      A.set(path, rng.normals(opts.rank * inn, opts.stdA ?? 1 / Math.sqrt(inn)));
      B.set(path, rng.normals(out * opts.rank, opts.stdB ?? 0.1));
    }
  }
  return { rank: opts.rank, alpha: opts.alpha, targets: [...opts.targets], A, B };
}

/** Normalised, validated copy of the LoRA maps keyed by HF module path. */
function canonicalLora(m: ReferenceModel, lora: ReferenceLora): { A: Map<string, Float64Array>; B: Map<string, Float64Array> } {
  const A = new Map<string, Float64Array>();
  const B = new Map<string, Float64Array>();
  for (const [k, v] of lora.A) A.set(normalizeLoraKey(k), v);
  for (const [k, v] of lora.B) B.set(normalizeLoraKey(k), v);
  const wanted = new Set(loraModulePaths(m, lora.targets));
  for (const k of [...A.keys(), ...B.keys()]) {
    if (!wanted.has(k)) throw new Error(`LoRA key ${k} is not a targeted module (targets: ${lora.targets.join(',')})`);
  }
  for (let l = 0; l < m.config.layers; l++) {
    for (const t of lora.targets) {
      const path = loraModulePath(l, t);
      const { out, in: inn } = loraModuleShape(m, t);
      const a = A.get(path);
      const b = B.get(path);
      if (!a || !b) throw new Error(`LoRA: A or B missing for ${path}`);
      if (a.length !== lora.rank * inn) throw new Error(`LoRA: ${path} A has ${a.length} values, expected [${lora.rank}, ${inn}]`);
      if (b.length !== out * lora.rank) throw new Error(`LoRA: ${path} B has ${b.length} values, expected [${out}, ${lora.rank}]`);
    }
  }
  return { A, B };
}

function loraScaling(lora: ReferenceLora): number {
  return ((lora.loraScale ?? 1) * lora.alpha) / lora.rank;
}

/** W + scaling * B @ A for one module. */
function mergedWeight(W: Float64Array, out: number, inn: number, A: Float64Array, B: Float64Array, r: number, s: number): Float64Array {
  const Wm = Float64Array.from(W);
  for (let o = 0; o < out; o++) {
    for (let j = 0; j < r; j++) {
      const bs = s * B[o * r + j]!;
      if (bs === 0) continue;
      const row = o * inn;
      const arow = j * inn;
      for (let i = 0; i < inn; i++) Wm[row + i] = Wm[row + i]! + bs * A[arow + i]!;
    }
  }
  return Wm;
}

/** Effective (merged) weights of the adapted modules: `${path}.weight` -> W_eff. */
export function mergeLora(model: string | ReferenceModel, lora: ReferenceLora): Map<string, Float64Array> {
  const m = asModel(model);
  const { A, B } = canonicalLora(m, lora);
  const s = loraScaling(lora);
  const out = new Map<string, Float64Array>();
  for (const [path, a] of A) {
    const wName = `${path}.weight`;
    const [o, i] = m.shapes.get(wName)!;
    out.set(wName, mergedWeight(m.weights.get(wName)!, o!, i!, a, B.get(path)!, lora.rank, s));
  }
  return out;
}

// ───────────────────────────── forward ─────────────────────────────

function rmsNorm(x: Float64Array, off: number, n: number, w: Float64Array, eps: number, out: Float64Array, outOff: number): void {
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[off + i]! * x[off + i]!;
  const r = 1 / Math.sqrt(ss / n + eps);
  for (let i = 0; i < n; i++) out[outOff + i] = x[off + i]! * r * w[i]!;
}

/** y[o] = Σ_i W[o, i] x[i] (+ b[o]) ; W row-major [out, in]. */
function linear(x: Float64Array, xOff: number, W: Float64Array, b: Float64Array | undefined, out: number, inn: number, y: Float64Array, yOff: number): void {
  for (let o = 0; o < out; o++) {
    let acc = b ? b[o]! : 0;
    const row = o * inn;
    for (let i = 0; i < inn; i++) acc += W[row + i]! * x[xOff + i]!;
    y[yOff + o] = acc;
  }
}

/** HF apply_rotary_pos_emb for one head vector at `off` (rotate_half convention). */
function rope(v: Float64Array, off: number, d: number, pos: number, invFreq: Float64Array, attnFactor: number): void {
  const half = d / 2;
  for (let i = 0; i < half; i++) {
    const ang = pos * invFreq[i]!;
    const c = Math.cos(ang) * attnFactor;
    const s = Math.sin(ang) * attnFactor;
    const a = v[off + i]!;
    const b = v[off + i + half]!;
    v[off + i] = a * c - b * s;
    v[off + i + half] = b * c + a * s;
  }
}

function forwardWithWeights(m: ReferenceModel, tokenIds: readonly number[], override: Map<string, Float64Array> | undefined): Float64Array {
  const c = m.config;
  const T = tokenIds.length;
  const { hidden: H, heads, kvHeads, headDim: hd, ffn: F, vocab: V, eps } = c;
  const W = (name: string): Float64Array => {
    const w = override?.get(name) ?? m.weights.get(name);
    if (!w) throw new Error(`reference: tensor ${name} missing`);
    return w;
  };
  const qDim = heads * hd;
  const kvDim = kvHeads * hd;
  const nRep = heads / kvHeads;
  const x = new Float64Array(T * H);
  const emb = W('model.embed_tokens.weight');
  for (let t = 0; t < T; t++) {
    const id = tokenIds[t]!;
    if (!(id >= 0 && id < V && Number.isInteger(id))) throw new Error(`token id ${id} out of range`);
    for (let i = 0; i < H; i++) x[t * H + i] = emb[id * H + i]!;
  }
  const h = new Float64Array(T * H);
  const q = new Float64Array(T * qDim);
  const k = new Float64Array(T * kvDim);
  const v = new Float64Array(T * kvDim);
  const attn = new Float64Array(T * qDim);
  const tmp = new Float64Array(Math.max(H, F));
  const g = new Float64Array(F);
  const u = new Float64Array(F);
  const scores = new Float64Array(T);
  const scale = 1 / Math.sqrt(hd);

  for (let l = 0; l < c.layers; l++) {
    const p = `model.layers.${l}`;
    const window = c.slidingWindow[l] ?? null;
    const wIn = W(`${p}.input_layernorm.weight`);
    for (let t = 0; t < T; t++) rmsNorm(x, t * H, H, wIn, eps, h, t * H);
    const wq = W(`${p}.self_attn.q_proj.weight`);
    const wk = W(`${p}.self_attn.k_proj.weight`);
    const wv = W(`${p}.self_attn.v_proj.weight`);
    const bq = c.qkvBias ? W(`${p}.self_attn.q_proj.bias`) : undefined;
    const bk = c.qkvBias ? W(`${p}.self_attn.k_proj.bias`) : undefined;
    const bv = c.qkvBias ? W(`${p}.self_attn.v_proj.bias`) : undefined;
    for (let t = 0; t < T; t++) {
      linear(h, t * H, wq, bq, qDim, H, q, t * qDim);
      linear(h, t * H, wk, bk, kvDim, H, k, t * kvDim);
      linear(h, t * H, wv, bv, kvDim, H, v, t * kvDim);
    }
    if (c.qkNorm) {
      const qn = W(`${p}.self_attn.q_norm.weight`);
      const kn = W(`${p}.self_attn.k_norm.weight`);
      for (let t = 0; t < T; t++) {
        for (let hh = 0; hh < heads; hh++) rmsNorm(q, t * qDim + hh * hd, hd, qn, eps, q, t * qDim + hh * hd);
        for (let hh = 0; hh < kvHeads; hh++) rmsNorm(k, t * kvDim + hh * hd, hd, kn, eps, k, t * kvDim + hh * hd);
      }
    }
    for (let t = 0; t < T; t++) {
      for (let hh = 0; hh < heads; hh++) rope(q, t * qDim + hh * hd, hd, t, c.invFreq, c.ropeAttentionFactor);
      for (let hh = 0; hh < kvHeads; hh++) rope(k, t * kvDim + hh * hd, hd, t, c.invFreq, c.ropeAttentionFactor);
    }
    // causal (optionally sliding-window) attention; HF mask: kv_idx <= q_idx and kv_idx > q_idx - window
    for (let hh = 0; hh < heads; hh++) {
      const kvh = Math.floor(hh / nRep);
      for (let t = 0; t < T; t++) {
        const s0 = window === null ? 0 : Math.max(0, t - window + 1);
        let mx = -Infinity;
        for (let s = s0; s <= t; s++) {
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += q[t * qDim + hh * hd + i]! * k[s * kvDim + kvh * hd + i]!;
          scores[s] = dot * scale;
          if (scores[s]! > mx) mx = scores[s]!;
        }
        let sum = 0;
        for (let s = s0; s <= t; s++) {
          scores[s] = Math.exp(scores[s]! - mx);
          sum += scores[s]!;
        }
        for (let i = 0; i < hd; i++) {
          let acc = 0;
          for (let s = s0; s <= t; s++) acc += scores[s]! * v[s * kvDim + kvh * hd + i]!;
          attn[t * qDim + hh * hd + i] = acc / sum;
        }
      }
    }
    const wo = W(`${p}.self_attn.o_proj.weight`);
    const bo = c.oBias ? W(`${p}.self_attn.o_proj.bias`) : undefined;
    for (let t = 0; t < T; t++) {
      linear(attn, t * qDim, wo, bo, H, qDim, tmp, 0);
      for (let i = 0; i < H; i++) x[t * H + i] = x[t * H + i]! + tmp[i]!;
    }
    const wPost = W(`${p}.post_attention_layernorm.weight`);
    const wg = W(`${p}.mlp.gate_proj.weight`);
    const wu = W(`${p}.mlp.up_proj.weight`);
    const wd = W(`${p}.mlp.down_proj.weight`);
    const bg = c.mlpBias ? W(`${p}.mlp.gate_proj.bias`) : undefined;
    const bu = c.mlpBias ? W(`${p}.mlp.up_proj.bias`) : undefined;
    const bd = c.mlpBias ? W(`${p}.mlp.down_proj.bias`) : undefined;
    for (let t = 0; t < T; t++) {
      rmsNorm(x, t * H, H, wPost, eps, h, t * H);
      linear(h, t * H, wg, bg, F, H, g, 0);
      linear(h, t * H, wu, bu, F, H, u, 0);
      for (let i = 0; i < F; i++) {
        const a = g[i]!;
        g[i] = (a / (1 + Math.exp(-a))) * u[i]!;
      }
      linear(g, 0, wd, bd, H, F, tmp, 0);
      for (let i = 0; i < H; i++) x[t * H + i] = x[t * H + i]! + tmp[i]!;
    }
  }
  const wNorm = W('model.norm.weight');
  const lm = c.tie ? emb : W('lm_head.weight');
  const logits = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    rmsNorm(x, t * H, H, wNorm, eps, h, t * H);
    linear(h, t * H, lm, undefined, V, H, logits, t * V);
  }
  return logits;
}

export interface ReferenceForwardOptions {
  lora?: ReferenceLora;
}

/** Logits [T, vocab] (row-major) for token ids at positions 0..T-1. */
export function referenceForward(model: string | ReferenceModel, tokenIds: readonly number[], opts: ReferenceForwardOptions = {}): Float64Array {
  const m = asModel(model);
  if (tokenIds.length === 0) throw new Error('referenceForward: empty input');
  return forwardWithWeights(m, tokenIds, opts.lora ? mergeLora(m, opts.lora) : undefined);
}

/** Greedy continuation (argmax, lowest id on ties), recomputing the full forward each step. Returns only new ids. */
export function referenceGreedy(
  model: string | ReferenceModel,
  promptIds: readonly number[],
  maxNewTokens: number,
  opts: ReferenceForwardOptions & { stopIds?: readonly number[] } = {},
): number[] {
  const m = asModel(model);
  const override = opts.lora ? mergeLora(m, opts.lora) : undefined;
  const V = m.config.vocab;
  const ids = [...promptIds];
  const out: number[] = [];
  for (let n = 0; n < maxNewTokens; n++) {
    const logits = forwardWithWeights(m, ids, override);
    const row = (ids.length - 1) * V;
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[row + i]! > logits[row + best]!) best = i;
    out.push(best);
    ids.push(best);
    if (opts.stopIds?.includes(best)) break;
  }
  return out;
}

// ───────────────────────────── loss & gradients ─────────────────────────────

export interface LossExample {
  tokenIds: readonly number[];
  /** Length T, aligned with tokenIds; see the convention at the top of this file. */
  lossMask: ArrayLike<number>;
}

/** Sum of −log p(target) over masked targets of one sequence, and their count. */
function sequenceLossSum(logits: Float64Array, V: number, ex: LossExample): { sum: number; count: number } {
  const T = ex.tokenIds.length;
  if (ex.lossMask.length !== T) throw new Error(`lossMask length ${ex.lossMask.length} != tokens ${T}`);
  if (ex.lossMask[0]) throw new Error('lossMask[0] must be 0: the first token has no prediction (mask[t] marks token t as a target predicted from position t-1)');
  let sum = 0;
  let count = 0;
  for (let t = 1; t < T; t++) {
    if (!ex.lossMask[t]) continue;
    const row = (t - 1) * V;
    let mx = -Infinity;
    for (let i = 0; i < V; i++) if (logits[row + i]! > mx) mx = logits[row + i]!;
    let z = 0;
    for (let i = 0; i < V; i++) z += Math.exp(logits[row + i]! - mx);
    sum += mx + Math.log(z) - logits[row + ex.tokenIds[t]!]!;
    count++;
  }
  return { sum, count };
}

/** A loss over the sequences' summed cross-entropies (e.g. a preference loss); default: the token mean. */
export type SequenceLossCombiner = (rows: { sum: number; count: number }[]) => number;

function batchLoss(m: ReferenceModel, batch: readonly LossExample[], override: Map<string, Float64Array> | undefined, combine?: SequenceLossCombiner): { loss: number; count: number } {
  let sum = 0;
  let count = 0;
  const rows: { sum: number; count: number }[] = [];
  for (const ex of batch) {
    const r = sequenceLossSum(forwardWithWeights(m, ex.tokenIds, override), m.config.vocab, ex);
    rows.push(r);
    sum += r.sum;
    count += r.count;
  }
  if (combine) return { loss: combine(rows), count };
  if (count === 0) throw new Error('loss: no masked target tokens');
  return { loss: sum / count, count };
}

/** Mean cross-entropy over the masked targets of one sequence (convention at the top of the file). */
export function referenceLoss(model: string | ReferenceModel, tokenIds: readonly number[], lossMask: ArrayLike<number>, lora?: ReferenceLora): number {
  return referenceBatchLoss(model, [{ tokenIds, lossMask }], lora).loss;
}

/** Token-mean cross-entropy over all masked targets of several independent sequences. */
export function referenceBatchLoss(model: string | ReferenceModel, batch: readonly LossExample[], lora?: ReferenceLora): { loss: number; count: number } {
  const m = asModel(model);
  return batchLoss(m, batch, lora ? mergeLora(m, lora) : undefined);
}

export interface LoraGrads {
  loss: number;
  /** Number of masked target tokens. */
  count: number;
  /** dLoss/dA per HF module path, [rank, in]. */
  gradA: Map<string, Float64Array>;
  /** dLoss/dB per HF module path, [out, rank]. */
  gradB: Map<string, Float64Array>;
}

/**
 * dLoss/dA and dLoss/dB by central finite differences in float64: (L(θ+ε) − L(θ−ε)) / 2ε, ε = 1e-5
 * by default. `tokenIds`/`lossMask` may be one sequence or a batch (number[][] / mask[]), in which
 * case the loss is the token mean over the batch. Slow (2 forwards per LoRA parameter): tiny models only.
 */
export function referenceLoraGrads(
  model: string | ReferenceModel,
  tokenIds: readonly number[] | readonly (readonly number[])[],
  lossMask: ArrayLike<number> | readonly ArrayLike<number>[],
  lora: ReferenceLora,
  opts: { eps?: number; combine?: SequenceLossCombiner } = {},
): LoraGrads {
  const m = asModel(model);
  const eps = opts.eps ?? 1e-5;
  const batch: LossExample[] = Array.isArray(tokenIds[0])
    ? (tokenIds as readonly (readonly number[])[]).map((ids, i) => ({ tokenIds: ids, lossMask: (lossMask as readonly ArrayLike<number>[])[i]! }))
    : [{ tokenIds: tokenIds as readonly number[], lossMask: lossMask as ArrayLike<number> }];
  const { A, B } = canonicalLora(m, lora);
  // Work on private copies so the caller's arrays are never touched.
  const Aw = new Map([...A].map(([k, v]) => [k, Float64Array.from(v)]));
  const Bw = new Map([...B].map(([k, v]) => [k, Float64Array.from(v)]));
  const s = loraScaling(lora);
  const r = lora.rank;
  const override = new Map<string, Float64Array>();
  const remerge = (path: string): void => {
    const wName = `${path}.weight`;
    const [o, i] = m.shapes.get(wName)!;
    override.set(wName, mergedWeight(m.weights.get(wName)!, o!, i!, Aw.get(path)!, Bw.get(path)!, r, s));
  };
  for (const path of Aw.keys()) remerge(path);
  const base = batchLoss(m, batch, override, opts.combine);
  const gradA = new Map<string, Float64Array>();
  const gradB = new Map<string, Float64Array>();
  for (const [which, params, grads] of [
    ['A', Aw, gradA],
    ['B', Bw, gradB],
  ] as const) {
    void which;
    for (const [path, arr] of params) {
      const gr = new Float64Array(arr.length);
      for (let i = 0; i < arr.length; i++) {
        const orig = arr[i]!;
        arr[i] = orig + eps;
        remerge(path);
        const lp = batchLoss(m, batch, override, opts.combine).loss;
        arr[i] = orig - eps;
        remerge(path);
        const lm = batchLoss(m, batch, override, opts.combine).loss;
        arr[i] = orig;
        gr[i] = (lp - lm) / (2 * eps);
      }
      remerge(path);
      grads.set(path, gr);
    }
  }
  return { loss: base.loss, count: base.count, gradA, gradB };
}

/** Convenience: argmax of each logits row. */
export function argmaxRows(logits: Float64Array, vocab: number): number[] {
  const T = logits.length / vocab;
  const out: number[] = [];
  for (let t = 0; t < T; t++) {
    let best = 0;
    for (let i = 1; i < vocab; i++) if (logits[t * vocab + i]! > logits[t * vocab + best]!) best = i;
    out.push(best);
  }
  return out;
}
