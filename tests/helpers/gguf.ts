/**
 * Minimal GGUF (v3) writer/reader for tests, plus `hfToGguf`, a converter of the tiny HF folders
 * written by tiny-model.ts into the layout llama.cpp expects (as transformers' companion script
 * llama.cpp/convert_hf_to_gguf.py does it). It lets llama.cpp act as an external oracle for the
 * reference forward on every architecture switch (qkv bias, q/k norm, head_dim, GQA, llama3 RoPE).
 *
 * GGUF layout: "GGUF", u32 version 3, u64 tensor count, u64 kv count, KVs (string key, u32 type,
 * value), tensor infos (string name, u32 n_dims, u64 dims[] innermost first, u32 ggml type,
 * u64 offset into the data section), padding to `general.alignment` (32), tensor data (each tensor
 * aligned to 32). An HF Linear weight [out, in] (row-major) is a GGUF tensor with dims [in, out]
 * and the same bytes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readHfWeights } from './reference-forward.js';
import { f64ToF16Bits } from './safetensors.js';
import { STORIES260K_GGUF } from './tiny-model.js';

export const GGUF_TYPE = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

export type GgufScalarType = Exclude<(typeof GGUF_TYPE)[keyof typeof GGUF_TYPE], 9>;
export type GgufValue =
  | { type: GgufScalarType; value: number | bigint | boolean | string }
  | { type: 9; itemType: GgufScalarType; value: (number | bigint | boolean | string)[] };

export const GGML_TYPE = { F32: 0, F16: 1, BF16: 30 } as const;

export interface GgufTensorIn {
  name: string;
  /** GGUF dims, innermost (contiguous) first — i.e. reversed HF/numpy shape. */
  dims: number[];
  type: 'F32' | 'F16';
  data: ArrayLike<number>;
}

class Writer {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  scalar(type: GgufScalarType, v: number | bigint | boolean | string): void {
    const b = Buffer.alloc(8);
    switch (type) {
      case 0: b.writeUInt8(v as number); return this.push(b.subarray(0, 1));
      case 1: b.writeInt8(v as number); return this.push(b.subarray(0, 1));
      case 2: b.writeUInt16LE(v as number); return this.push(b.subarray(0, 2));
      case 3: b.writeInt16LE(v as number); return this.push(b.subarray(0, 2));
      case 4: b.writeUInt32LE(v as number); return this.push(b.subarray(0, 4));
      case 5: b.writeInt32LE(v as number); return this.push(b.subarray(0, 4));
      case 6: b.writeFloatLE(v as number); return this.push(b.subarray(0, 4));
      case 7: b.writeUInt8(v ? 1 : 0); return this.push(b.subarray(0, 1));
      case 8: return this.str(v as string);
      case 10: b.writeBigUInt64LE(BigInt(v as number)); return this.push(b);
      case 11: b.writeBigInt64LE(BigInt(v as number)); return this.push(b);
      case 12: b.writeDoubleLE(v as number); return this.push(b);
    }
  }
  pad(align: number): void {
    const n = (align - (this.length % align)) % align;
    if (n) this.push(Buffer.alloc(n));
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function tensorBytes(t: GgufTensorIn): Buffer {
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (n !== t.data.length) throw new Error(`${t.name}: ${t.data.length} values for dims [${t.dims}]`);
  if (t.type === 'F32') {
    const b = Buffer.alloc(n * 4);
    for (let i = 0; i < n; i++) b.writeFloatLE(t.data[i]!, i * 4);
    return b;
  }
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) b.writeUInt16LE(f64ToF16Bits(t.data[i]!), i * 2);
  return b;
}

export function writeGguf(path: string, kv: Map<string, GgufValue>, tensors: GgufTensorIn[]): void {
  const ALIGN = 32;
  const w = new Writer();
  w.push(Buffer.from('GGUF', 'ascii'));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(kv.size);
  for (const [key, v] of kv) {
    w.str(key);
    w.u32(v.type);
    if (v.type === 9) {
      w.u32(v.itemType);
      w.u64(v.value.length);
      for (const x of v.value) w.scalar(v.itemType, x);
    } else {
      w.scalar(v.type, v.value);
    }
  }
  const datas = tensors.map(tensorBytes);
  let offset = 0;
  tensors.forEach((t, i) => {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(GGML_TYPE[t.type]);
    w.u64(offset);
    offset += datas[i]!.length;
    offset += (ALIGN - (offset % ALIGN)) % ALIGN;
  });
  w.pad(ALIGN);
  for (const d of datas) {
    w.push(d);
    w.pad(ALIGN);
  }
  writeFileSync(path, w.bytes());
}

/** Read the KV metadata of a GGUF file (tensor data is not read). */
export function readGgufMetadata(path: string): Map<string, GgufValue> {
  const buf = readFileSync(path);
  let p = 0;
  const u32 = (): number => { const v = buf.readUInt32LE(p); p += 4; return v; };
  const u64 = (): bigint => { const v = buf.readBigUInt64LE(p); p += 8; return v; };
  const str = (): string => { const n = Number(u64()); const s = buf.toString('utf8', p, p + n); p += n; return s; };
  const scalar = (type: number): number | bigint | boolean | string => {
    let v: number | bigint | boolean | string;
    switch (type) {
      case 0: v = buf.readUInt8(p); p += 1; return v;
      case 1: v = buf.readInt8(p); p += 1; return v;
      case 2: v = buf.readUInt16LE(p); p += 2; return v;
      case 3: v = buf.readInt16LE(p); p += 2; return v;
      case 4: v = buf.readUInt32LE(p); p += 4; return v;
      case 5: v = buf.readInt32LE(p); p += 4; return v;
      case 6: v = buf.readFloatLE(p); p += 4; return v;
      case 7: v = buf.readUInt8(p) !== 0; p += 1; return v;
      case 8: return str();
      case 10: v = buf.readBigUInt64LE(p); p += 8; return v;
      case 11: v = buf.readBigInt64LE(p); p += 8; return v;
      case 12: v = buf.readDoubleLE(p); p += 8; return v;
      default: throw new Error(`gguf: bad value type ${type}`);
    }
  };
  if (buf.toString('ascii', 0, 4) !== 'GGUF') throw new Error(`${path}: not GGUF`);
  p = 4;
  const version = u32();
  if (version < 2) throw new Error(`gguf v${version} not supported`);
  u64(); // tensor count
  const nKv = Number(u64());
  const kv = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const type = u32();
    if (type === 9) {
      const itemType = u32() as GgufScalarType;
      const n = Number(u64());
      const value: (number | bigint | boolean | string)[] = [];
      for (let j = 0; j < n; j++) value.push(scalar(itemType));
      kv.set(key, { type: 9, itemType, value });
    } else {
      kv.set(key, { type: type as GgufScalarType, value: scalar(type) });
    }
  }
  return kv;
}

/**
 * llama.cpp's LLaMA q/k row permutation (convert_hf_to_gguf.py `LlamaModel.permute`): HF rotates
 * halves (i, i+d/2), llama.cpp's "normal" RoPE rotates adjacent pairs (2i, 2i+1).
 * new row h*d + 2j + s  <-  old row h*d + s*d/2 + j.
 */
export function permuteHfToInterleaved(w: ArrayLike<number>, nHead: number, rows: number, cols: number): Float64Array {
  const d = rows / nHead;
  const out = new Float64Array(rows * cols);
  for (let h = 0; h < nHead; h++)
    for (let j = 0; j < d / 2; j++)
      for (let s = 0; s < 2; s++) {
        const src = (h * d + s * (d / 2) + j) * cols;
        const dst = (h * d + 2 * j + s) * cols;
        for (let c = 0; c < cols; c++) out[dst + c] = w[src + c]!;
      }
  return out;
}

/** llama.cpp rope_freqs factors for llama3 scaling, as convert_hf_to_gguf.py computes them. */
function llama3RopeFactors(headDim: number, base: number, rs: Record<string, number>): number[] {
  const factor = rs['factor']!;
  const low = rs['low_freq_factor']!;
  const high = rs['high_freq_factor']!;
  const old = rs['original_max_position_embeddings']!;
  const lowWl = old / low;
  const highWl = old / high;
  const out: number[] = [];
  for (let i = 0; i < headDim; i += 2) {
    const freq = 1 / Math.pow(base, i / headDim);
    const wl = (2 * Math.PI) / freq;
    if (wl < highWl) out.push(1);
    else if (wl > lowWl) out.push(factor);
    else {
      const smooth = (old / wl - low) / (high - low);
      out.push(1 / ((1 - smooth) / factor + smooth));
    }
  }
  return out;
}

/**
 * Convert an HF folder (llama / mistral / qwen2 / qwen3, as written by writeTinyModel) to a GGUF
 * that llama.cpp loads. Weights are written as F32 (exact for F32/F16/BF16 sources) unless
 * `matrixType: 'F16'`. Tokenizer metadata is copied from stories260K.gguf (same 512-piece vocab).
 */
export function hfToGguf(hfDir: string, outPath: string, opts: { matrixType?: 'F32' | 'F16' } = {}): void {
  const cfg = JSON.parse(readFileSync(join(hfDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const mt = cfg['model_type'] as string;
  const arch = mt === 'llama' || mt === 'mistral' ? 'llama' : mt;
  if (arch !== 'llama' && arch !== 'qwen2' && arch !== 'qwen3') throw new Error(`hfToGguf: ${mt} not supported`);
  const H = cfg['hidden_size'] as number;
  const nHead = cfg['num_attention_heads'] as number;
  const nKv = (cfg['num_key_value_heads'] as number | undefined) ?? nHead;
  const hd = (cfg['head_dim'] as number | undefined) ?? H / nHead;
  const theta = (cfg['rope_theta'] as number | undefined) ?? 10000;
  const kv = new Map<string, GgufValue>();
  const S = GGUF_TYPE.STRING;
  const U32 = GGUF_TYPE.UINT32;
  const F32 = GGUF_TYPE.FLOAT32;
  kv.set('general.architecture', { type: S, value: arch });
  kv.set('general.name', { type: S, value: `tiny-${mt}` });
  kv.set('general.alignment', { type: U32, value: 32 });
  kv.set(`${arch}.context_length`, { type: U32, value: cfg['max_position_embeddings'] as number });
  kv.set(`${arch}.embedding_length`, { type: U32, value: H });
  kv.set(`${arch}.block_count`, { type: U32, value: cfg['num_hidden_layers'] as number });
  kv.set(`${arch}.feed_forward_length`, { type: U32, value: cfg['intermediate_size'] as number });
  kv.set(`${arch}.attention.head_count`, { type: U32, value: nHead });
  kv.set(`${arch}.attention.head_count_kv`, { type: U32, value: nKv });
  kv.set(`${arch}.attention.key_length`, { type: U32, value: hd });
  kv.set(`${arch}.attention.value_length`, { type: U32, value: hd });
  kv.set(`${arch}.rope.dimension_count`, { type: U32, value: hd });
  kv.set(`${arch}.rope.freq_base`, { type: F32, value: theta });
  kv.set(`${arch}.attention.layer_norm_rms_epsilon`, { type: F32, value: cfg['rms_norm_eps'] as number });
  kv.set(`${arch}.vocab_size`, { type: U32, value: cfg['vocab_size'] as number });
  for (const [k, v] of readGgufMetadata(STORIES260K_GGUF)) if (k.startsWith('tokenizer.')) kv.set(k, v);

  const w = readHfWeights(hfDir);
  const tensors: GgufTensorIn[] = [];
  const mat = opts.matrixType ?? 'F32';
  const add = (name: string, hfName: string, transform?: (d: Float64Array, shape: number[]) => Float64Array, type?: 'F32' | 'F16'): void => {
    const t = w.get(hfName);
    if (!t) throw new Error(`hfToGguf: ${hfName} missing`);
    const data = transform ? transform(t.data, t.shape) : t.data;
    tensors.push({ name, dims: [...t.shape].reverse(), type: type ?? (t.shape.length === 2 ? mat : 'F32'), data });
  };
  const perm = (n: number) => (d: Float64Array, s: number[]): Float64Array =>
    arch === 'llama' ? permuteHfToInterleaved(d, n, s[0]!, s[1]!) : d;
  const rs = cfg['rope_scaling'] as Record<string, unknown> | null | undefined;
  if (rs && (rs['rope_type'] ?? rs['type']) === 'llama3') {
    const f = llama3RopeFactors(hd, theta, rs as Record<string, number>);
    tensors.push({ name: 'rope_freqs.weight', dims: [f.length], type: 'F32', data: f });
  }
  add('token_embd.weight', 'model.embed_tokens.weight');
  for (let l = 0; l < (cfg['num_hidden_layers'] as number); l++) {
    const p = `model.layers.${l}`;
    const b = `blk.${l}`;
    add(`${b}.attn_norm.weight`, `${p}.input_layernorm.weight`);
    add(`${b}.attn_q.weight`, `${p}.self_attn.q_proj.weight`, perm(nHead));
    add(`${b}.attn_k.weight`, `${p}.self_attn.k_proj.weight`, perm(nKv));
    add(`${b}.attn_v.weight`, `${p}.self_attn.v_proj.weight`);
    if (w.has(`${p}.self_attn.q_proj.bias`)) {
      if (arch === 'llama') throw new Error('hfToGguf: llama attention bias not supported');
      add(`${b}.attn_q.bias`, `${p}.self_attn.q_proj.bias`);
      add(`${b}.attn_k.bias`, `${p}.self_attn.k_proj.bias`);
      add(`${b}.attn_v.bias`, `${p}.self_attn.v_proj.bias`);
    }
    if (arch === 'qwen3') {
      add(`${b}.attn_q_norm.weight`, `${p}.self_attn.q_norm.weight`);
      add(`${b}.attn_k_norm.weight`, `${p}.self_attn.k_norm.weight`);
    }
    add(`${b}.attn_output.weight`, `${p}.self_attn.o_proj.weight`);
    add(`${b}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`);
    add(`${b}.ffn_gate.weight`, `${p}.mlp.gate_proj.weight`);
    add(`${b}.ffn_up.weight`, `${p}.mlp.up_proj.weight`);
    add(`${b}.ffn_down.weight`, `${p}.mlp.down_proj.weight`);
  }
  add('output_norm.weight', 'model.norm.weight');
  if (cfg['tie_word_embeddings'] !== true) add('output.weight', 'lm_head.weight');
  writeGguf(outPath, kv, tensors);
}
