// A GGUF base model <-> the in-memory form a Hugging Face folder loads into (config.json object,
// HF-named float32 tensors, tokenizer.json, tokenizer_config.json). Architecture differences come
// from GGUF_ARCHS; tokenizer rules from gguf-tokenizer.ts.
import { archByGguf, archByModelType, type GgufArch } from './gguf-arch.js';
import { mismatch, unsupported } from './errors.js';
import { ggufTensorToFloat32, gv, metaValue, readGguf, writeGguf, type GgufTensorToWrite, type GgufValue } from './gguf.js';
import { tokenizerFromGguf, tokenizerToGgufMetadata, type TokenizerConfig, type TokenizerJson } from './gguf-tokenizer.js';
import { dequantize, ggmlType, quantize } from './quants.js';
import { canonicalToHf, hfToCanonical, permuteQK, unpermuteQK } from './tensor-names.js';
import { NBITS_GGUF_TYPES, permuteBlockRows, type GgufBlocks, type NBitsGgufType } from '../models/nbits.js';

export interface FloatTensor {
  data: Float32Array;
  shape: number[];
  /**
   * A Q8_0/Q4_0/Q4_K/Q6_K matrix's blocks (rows in HF order): the graphs compute with them
   * directly, and `data` is then expanded from them when read (see `blockTensor`).
   */
  gguf?: GgufBlocks;
}

/**
 * A matrix kept as its GGUF blocks. Its F32 values are not held: `data` expands the blocks when
 * read (chat reads none; tuning reads some once), and a WeakRef lets repeated reads in one
 * synchronous loop share one expansion, which the garbage collector may drop afterwards.
 */
export function blockTensor(shape: number[], gguf: GgufBlocks): FloatTensor {
  let last: WeakRef<Float32Array> | undefined;
  return {
    shape,
    gguf,
    get data(): Float32Array {
      let d = last?.deref();
      if (!d) {
        d = dequantize(gguf.type, gguf.bytes, shape[0]! * shape[1]!);
        last = new WeakRef(d);
      }
      return d;
    },
  };
}

export type HfConfig = Record<string, unknown> & {
  model_type: string; hidden_size: number; intermediate_size: number; num_hidden_layers: number;
  num_attention_heads: number; num_key_value_heads: number; head_dim: number; rms_norm_eps: number;
  rope_theta: number; max_position_embeddings: number; vocab_size: number; tie_word_embeddings: boolean;
};

export interface LoadedModel {
  config: HfConfig;
  tensors: Map<string, FloatTensor>;
  tokenizerJson: TokenizerJson;
  tokenizerConfig: TokenizerConfig;
}

const isQ = (n: string): boolean => /\.attn_q\.(weight|bias)$/.test(n);
const isK = (n: string): boolean => /\.attn_k\.(weight|bias)$/.test(n);

/** Reads a GGUF base model (llama / mistral / qwen2 / qwen3) into HF form. */
export async function readGgufModel(filePath: string): Promise<LoadedModel> {
  const g = await readGguf(filePath);
  const archName = metaValue(g, 'general.architecture');
  const arch = archByGguf(String(archName));
  if (!arch) throw unsupported(filePath, 'general.architecture', `the model architecture is ${JSON.stringify(archName)}; Attune reads GGUF models of type ${['llama', 'qwen2', 'qwen3'].join(', ')}`);
  const num = (key: string, fallback?: number): number => {
    const v = metaValue(g, `${arch.gguf}.${key}`);
    if (typeof v === 'number') return v;
    if (fallback !== undefined) return fallback;
    throw mismatch(filePath, `${arch.gguf}.${key}`, `the metadata key ${arch.gguf}.${key} is missing; the file is incomplete`);
  };
  const hidden = num('embedding_length');
  const nHead = num('attention.head_count');
  const nKv = num('attention.head_count_kv', nHead);
  const headDim = num('attention.key_length', hidden / nHead);
  const ropeTheta = num('rope.freq_base', 10000);

  const tensors = new Map<string, FloatTensor>();
  let ropeFreqs: Float32Array | undefined;
  for (const t of g.tensors.values()) {
    if (t.name === 'rope_freqs.weight') { ropeFreqs = ggufTensorToFloat32(t, filePath); continue; }
    const hf = canonicalToHf(t.name);
    if (!hf) throw unsupported(filePath, t.name, `tensor ${t.name} has no Hugging Face counterpart Attune knows; this ${arch.gguf} model has parts Attune cannot load`);
    const rows = t.shape[0]!, cols = t.shape[1] ?? 1;
    const heads = arch.permuteQK && isQ(t.name) ? nHead : arch.permuteQK && isK(t.name) ? nKv : 0;
    if (t.shape.length === 2 && (NBITS_GGUF_TYPES as readonly string[]).includes(t.type.name)) {
      let gguf: GgufBlocks = { type: t.type.name as NBitsGgufType, bytes: t.bytes };
      // Rows in HF order: the source row of each row, from the permutation of the row numbers.
      if (heads) gguf = permuteBlockRows(gguf, rows, unpermuteQK(Float32Array.from({ length: rows }, (_, r) => r), heads, rows, 1));
      tensors.set(hf, blockTensor([...t.shape], gguf));
      continue;
    }
    let data = ggufTensorToFloat32(t, filePath);
    if (heads) data = unpermuteQK(data, heads, rows, cols);
    tensors.set(hf, { data: data.slice(), shape: [...t.shape] });
  }
  const embd = g.tensors.get('token_embd.weight');
  if (!embd) throw mismatch(filePath, 'token_embd.weight', 'the model has no token_embd.weight tensor');
  // Tied embeddings: no output tensor, or (as llama2.c-converted files) a byte-identical copy.
  const out = g.tensors.get('output.weight');
  const tied = !out || (out.type === embd.type && Buffer.compare(out.bytes, embd.bytes) === 0);
  if (tied) tensors.delete('lm_head.weight');

  const tok = tokenizerFromGguf(g, filePath);
  const config: HfConfig = {
    architectures: [arch.hfClass],
    model_type: arch.modelTypes[0]!,
    hidden_size: hidden,
    intermediate_size: num('feed_forward_length'),
    num_hidden_layers: num('block_count'),
    num_attention_heads: nHead,
    num_key_value_heads: nKv,
    head_dim: headDim,
    hidden_act: 'silu',
    max_position_embeddings: num('context_length'),
    rms_norm_eps: Math.fround(num('attention.layer_norm_rms_epsilon')),
    rope_theta: ropeTheta,
    rope_scaling: ropeScalingFromGguf(g.metadata, arch, ropeFreqs, ropeTheta, headDim, filePath),
    tie_word_embeddings: tied,
    vocab_size: embd.shape[0]!,
    torch_dtype: 'float32',
  };
  if (arch.attentionBias) config.attention_bias = tensors.has('model.layers.0.self_attn.q_proj.bias');
  if (tok.bosTokenId !== undefined) config.bos_token_id = tok.bosTokenId;
  if (tok.eosTokenId !== undefined) config.eos_token_id = tok.eosTokenId;
  // Float32 metadata: print 1e-5, not 0.000009999999747 (the value HF configs carry).
  config.rms_norm_eps = Number(config.rms_norm_eps.toPrecision(7));
  return { config, tensors, tokenizerJson: tok.tokenizerJson, tokenizerConfig: tok.tokenizerConfig };
}

export interface Llama3RopeScaling {
  rope_type: 'llama3'; factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number;
}

/** Per-frequency factors exactly as convert_hf_to_gguf.py computes rope_freqs for llama3. */
export function llama3RopeFactors(s: Llama3RopeScaling, theta: number, headDim: number): Float32Array {
  const out = new Float32Array(headDim / 2);
  const lowWave = s.original_max_position_embeddings / s.low_freq_factor;
  const highWave = s.original_max_position_embeddings / s.high_freq_factor;
  for (let i = 0; i < headDim / 2; i++) {
    const freq = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / headDim)));
    const wave = (2 * Math.PI) / freq;
    if (wave < highWave) out[i] = 1;
    else if (wave > lowWave) out[i] = s.factor;
    else {
      const smooth = (s.original_max_position_embeddings / wave - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

/**
 * llama3 RoPE scaling is stored only as the rope_freqs factors. Recover HF's parameters from the
 * transition band (two or more factors strictly between 1 and `factor`): the ramp is linear in
 * 1/wavelength, which fixes low/high relative to original_max_position_embeddings; that length is
 * not recoverable, so Llama 3's 8192 is assumed (HF's rope only depends on the ratios).
 */
function inferLlama3(f: Float32Array, theta: number, headDim: number, file: string): Llama3RopeScaling {
  const factor = Math.max(...f);
  const old = 8192;
  const pts: [number, number][] = [];
  for (let i = 0; i < f.length; i++) {
    if (f[i]! > 1 + 1e-6 && f[i]! < factor - 1e-6) {
      const wave = (2 * Math.PI) / Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / headDim)));
      pts.push([old / wave, (1 / f[i]! - 1 / factor) / (1 - 1 / factor)]);
    }
  }
  let low = 1, high = 4;
  if (pts.length >= 2) {
    const [[x0, s0], [x1, s1]] = [pts[0]!, pts[pts.length - 1]!];
    const slope = (s1 - s0) / (x1 - x0); // = 1/(high-low)
    low = Number((x0 - s0 / slope).toPrecision(6));
    high = Number((low + 1 / slope).toPrecision(6));
  }
  const s: Llama3RopeScaling = { rope_type: 'llama3', factor, low_freq_factor: low, high_freq_factor: high, original_max_position_embeddings: old };
  const check = llama3RopeFactors(s, theta, headDim);
  for (let i = 0; i < f.length; i++) {
    if (Math.abs(check[i]! - f[i]!) > 1e-3 * Math.abs(f[i]!)) throw unsupported(file, 'rope_freqs.weight', 'the rope_freqs factors do not follow the llama3 RoPE scaling rule; Attune cannot express them as a HF rope_scaling');
  }
  return s;
}

function ropeScalingFromGguf(meta: Map<string, GgufValue>, arch: GgufArch, freqs: Float32Array | undefined, theta: number, headDim: number, file: string): Record<string, unknown> | null {
  if (freqs) return { ...inferLlama3(freqs, theta, headDim, file) };
  const get = (k: string): unknown => meta.get(`${arch.gguf}.rope.scaling.${k}`)?.value;
  const type = get('type');
  if (type === undefined || type === 'none') return null;
  if (type === 'linear') return { rope_type: 'linear', factor: get('factor') };
  if (type === 'yarn') return { rope_type: 'yarn', factor: get('factor'), original_max_position_embeddings: get('original_context_length') };
  throw unsupported(file, `${arch.gguf}.rope.scaling.type`, `RoPE scaling type ${String(type)} is not one Attune converts (linear, yarn, llama3)`);
}

// ---- export ----

export type GgufExportType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';
/** llama.cpp's LLAMA_FTYPE for general.file_type (Q4_K: MOSTLY_Q4_K_S, every matrix in Q4_K) */
const FILE_TYPE: Record<GgufExportType, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, Q4_K: 14, Q6_K: 18 };
/** The type of a matrix whose rows are not whole K-quant super-blocks (llama.cpp: Q6_K -> Q8_0; its Q4_K -> Q5_0 is not written here). */
const K_FALLBACK: Partial<Record<GgufExportType, GgufExportType>> = { Q4_K: 'Q4_0', Q6_K: 'Q8_0' };

export interface WriteGgufModelOptions {
  config: Record<string, unknown>;
  tensors: Map<string, FloatTensor>;
  tokenizerJson: TokenizerJson;
  tokenizerConfig: TokenizerConfig;
  type: GgufExportType;
  /** general.name */
  name?: string;
  /** write output.weight as a copy of the tied embedding (llama2.c-converted files do) */
  writeTiedOutput?: boolean;
}

/**
 * Writes a llama.cpp-loadable GGUF. Matrices get `type` (falling back to F16 when a row is not a
 * whole number of blocks, as convert_hf_to_gguf.py does); 1-D tensors (norms, biases) stay F32.
 */
export async function writeGgufModel(filePath: string, o: WriteGgufModelOptions): Promise<void> {
  const c = o.config;
  const modelType = String(c.model_type);
  const arch = archByModelType(modelType);
  if (!arch) throw unsupported(filePath, 'config.model_type', `model type ${modelType} cannot be exported to GGUF yet; supported: llama, mistral, qwen2, qwen3`);
  const int = (k: string, fallback?: number): number => {
    const v = c[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw mismatch(filePath, `config.${k}`, `config.${k} is missing or not a number`);
    return v;
  };
  const hidden = int('hidden_size');
  const nHead = int('num_attention_heads');
  const nKv = int('num_key_value_heads', nHead);
  const headDim = int('head_dim', hidden / nHead);
  const a = arch.gguf;
  const kv: [string, GgufValue][] = [
    ['general.architecture', gv.str(a)],
    ['general.name', gv.str(o.name ?? 'model')],
    ['general.file_type', gv.u32(FILE_TYPE[o.type])],
    [`${a}.vocab_size`, gv.u32(int('vocab_size'))],
    [`${a}.context_length`, gv.u32(int('max_position_embeddings'))],
    [`${a}.embedding_length`, gv.u32(hidden)],
    [`${a}.block_count`, gv.u32(int('num_hidden_layers'))],
    [`${a}.feed_forward_length`, gv.u32(int('intermediate_size'))],
    [`${a}.attention.head_count`, gv.u32(nHead)],
    [`${a}.attention.head_count_kv`, gv.u32(nKv)],
    [`${a}.rope.freq_base`, gv.f32(int('rope_theta', 10000))],
    [`${a}.attention.layer_norm_rms_epsilon`, gv.f32(int('rms_norm_eps'))],
    [`${a}.rope.dimension_count`, gv.u32(headDim)],
  ];
  if (headDim * nHead !== hidden) kv.push([`${a}.attention.key_length`, gv.u32(headDim)], [`${a}.attention.value_length`, gv.u32(headDim)]);
  if (o.type !== 'F32' && o.type !== 'F16') kv.push(['general.quantization_version', gv.u32(2)]);

  const out: GgufTensorToWrite[] = [];
  const rs = c.rope_scaling as Record<string, unknown> | null | undefined;
  const ropeType = rs ? String(rs.rope_type ?? rs.type) : undefined;
  if (rs && ropeType === 'llama3') {
    const s = { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192, ...rs, rope_type: 'llama3' } as Llama3RopeScaling;
    const f = llama3RopeFactors(s, int('rope_theta', 10000), headDim);
    out.push({ name: 'rope_freqs.weight', type: 'F32', shape: [f.length], bytes: quantize('F32', f) });
  } else if (rs && ropeType === 'linear') {
    kv.push([`${a}.rope.scaling.type`, gv.str('linear')], [`${a}.rope.scaling.factor`, gv.f32(Number(rs.factor))]);
  } else if (rs && ropeType === 'yarn') {
    kv.push([`${a}.rope.scaling.type`, gv.str('yarn')], [`${a}.rope.scaling.factor`, gv.f32(Number(rs.factor))], [`${a}.rope.scaling.original_context_length`, gv.u32(Number(rs.original_max_position_embeddings))]);
  } else if (rs && ropeType !== 'default') {
    throw unsupported(filePath, 'config.rope_scaling', `RoPE scaling ${ropeType} cannot be written to GGUF yet (llama3, linear, yarn)`);
  }

  const entries = [...o.tensors];
  if (o.writeTiedOutput && !o.tensors.has('lm_head.weight') && o.tensors.has('model.embed_tokens.weight')) {
    entries.push(['lm_head.weight', o.tensors.get('model.embed_tokens.weight')!]);
  }
  for (const [hf, t] of entries) {
    const name = hfToCanonical(hf);
    if (!name) throw mismatch(filePath, hf, `tensor ${hf} has no llama.cpp name; Attune cannot place it in a GGUF file`);
    const n = t.shape.reduce((x, y) => x * y, 1);
    let data = t.data;
    if (n !== data.length) throw mismatch(filePath, hf, `tensor ${hf} has shape [${t.shape.join(', ')}] but ${data.length} values`);
    const rows = t.shape[0]!, cols = t.shape[1] ?? 1;
    if (arch.permuteQK && isQ(name)) data = permuteQK(data, nHead, rows, cols);
    if (arch.permuteQK && isK(name)) data = permuteQK(data, nKv, rows, cols);
    let type: GgufExportType = t.shape.length < 2 ? 'F32' : o.type;
    const width = t.shape[t.shape.length - 1]!;
    if (width % ggmlType(type).blockSize) type = K_FALLBACK[type] ?? type;
    if (width % ggmlType(type).blockSize) type = 'F16';
    out.push({ name, type, shape: t.shape, bytes: quantize(type, data) });
  }
  kv.push(...tokenizerToGgufMetadata(o.tokenizerJson, o.tokenizerConfig, filePath));
  await writeGguf(filePath, kv, out);
}
