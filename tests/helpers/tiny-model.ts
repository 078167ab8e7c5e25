/**
 * Writes tiny, randomly initialised Hugging Face model folders (config.json, safetensors with HF
 * tensor names, tokenizer files, generation_config.json) for the Llama-family architectures the
 * engine supports. Independent of engine code on purpose.
 *
 * The tokenizer is the 512-piece stories260K tokenizer (copied from ../shared/models/stories260K-hf),
 * so vocab_size is always 512, BOS = 1, EOS = 2.
 *
 * Weights: generated in a fixed tensor order from a seeded PRNG (mulberry32 + Box–Muller), first
 * rounded to float32 (as a float32 checkpoint would hold them) and then encoded as `dtype`. The same
 * seed/shape options give the same underlying weights for every dtype and for sharded/unsharded.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from './prng.js';
import { type StDtype, type StTensorIn, writeSafetensors } from './safetensors.js';

export type TinyArch = 'llama' | 'mistral' | 'qwen2' | 'qwen3';

export interface TinyModelOptions {
  /** PRNG seed (default 1234). */
  seed?: number;
  /** hidden_size (default 32). */
  hidden?: number;
  /** num_hidden_layers (default 2). */
  layers?: number;
  /** num_attention_heads (default 4). */
  heads?: number;
  /** num_key_value_heads (default 2). */
  kvHeads?: number;
  /** head_dim (default hidden/heads; qwen3 default 2*hidden/heads so that it differs, as in real Qwen3). */
  headDim?: number;
  /** intermediate_size (default 2*hidden). */
  ffn?: number;
  /** tie_word_embeddings (default: false for llama/mistral, true for qwen2/qwen3). */
  tie?: boolean;
  /** Storage dtype (default F32). */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Llama-3 RoPE scaling: {rope_type:'llama3', factor:8, low_freq_factor:1, high_freq_factor:4, original_max_position_embeddings:64}. */
  ropeScaling?: 'llama3';
  /** Split the weights over model-00001-of-00002.safetensors + model-00002-of-00002.safetensors + index. */
  sharded?: boolean;
  /** rope_theta (default 10000). */
  ropeTheta?: number;
  /** rms_norm_eps (default 1e-5 for llama/mistral, 1e-6 for qwen2/qwen3). */
  rmsNormEps?: number;
}

export interface TinyModelInfo {
  dir: string;
  arch: TinyArch;
  config: Record<string, unknown>;
  /** Tensor names in file order. */
  tensorNames: string[];
  /** Safetensors files written (relative names). */
  files: string[];
  /** Resolved numeric options. */
  dims: {
    hidden: number;
    layers: number;
    heads: number;
    kvHeads: number;
    headDim: number;
    ffn: number;
    vocab: number;
    tie: boolean;
    dtype: 'F32' | 'F16' | 'BF16';
  };
}

export const TINY_VOCAB = 512;
const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Folder of the shared real models: $ATTUNE_SHARED_MODELS, else ../shared/models or ./shared/models from the repo root. */
export const SHARED_MODELS_DIR: string = (() => {
  const candidates = [
    process.env['ATTUNE_SHARED_MODELS'],
    join(REPO_ROOT, '..', 'shared', 'models'),
    join(REPO_ROOT, 'shared', 'models'),
  ].filter((c): c is string => !!c);
  return candidates.find((c) => existsSync(join(c, 'stories260K-hf', 'config.json'))) ?? candidates[candidates.length - 2]!;
})();

export const STORIES260K_HF_DIR = join(SHARED_MODELS_DIR, 'stories260K-hf');
export const STORIES260K_GGUF = join(SHARED_MODELS_DIR, 'stories260K', 'stories260K.gguf');

const TORCH_DTYPE = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const;
const ARCHITECTURES = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
} as const;

function buildConfig(arch: TinyArch, d: TinyModelInfo['dims'], opts: TinyModelOptions): Record<string, unknown> {
  const ropeTheta = opts.ropeTheta ?? 10000.0;
  const eps = opts.rmsNormEps ?? (arch === 'llama' || arch === 'mistral' ? 1e-5 : 1e-6);
  const ropeScaling =
    opts.ropeScaling === 'llama3'
      ? {
          factor: 8.0,
          high_freq_factor: 4.0,
          low_freq_factor: 1.0,
          original_max_position_embeddings: 64,
          rope_type: 'llama3',
        }
      : null;
  const common = {
    architectures: [ARCHITECTURES[arch]],
    attention_dropout: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
    hidden_act: 'silu',
    hidden_size: d.hidden,
    initializer_range: 0.02,
    intermediate_size: d.ffn,
    max_position_embeddings: 256,
    model_type: arch,
    num_attention_heads: d.heads,
    num_hidden_layers: d.layers,
    num_key_value_heads: d.kvHeads,
    rms_norm_eps: eps,
    rope_scaling: ropeScaling,
    rope_theta: ropeTheta,
    tie_word_embeddings: d.tie,
    torch_dtype: TORCH_DTYPE[d.dtype],
    transformers_version: '4.51.3',
    use_cache: true,
    vocab_size: d.vocab,
  };
  let cfg: Record<string, unknown>;
  switch (arch) {
    case 'llama':
      cfg = {
        ...common,
        attention_bias: false,
        head_dim: d.headDim,
        mlp_bias: false,
        pretraining_tp: 1,
      };
      break;
    case 'mistral':
      cfg = { ...common, head_dim: d.headDim, sliding_window: null };
      break;
    case 'qwen2':
      // Qwen2Config has no head_dim (it is hidden/heads); only write it if it differs.
      cfg = {
        ...common,
        ...(d.headDim !== d.hidden / d.heads ? { head_dim: d.headDim } : {}),
        max_window_layers: d.layers,
        sliding_window: null,
        use_sliding_window: false,
      };
      break;
    case 'qwen3':
      cfg = {
        ...common,
        attention_bias: false,
        head_dim: d.headDim,
        max_window_layers: d.layers,
        sliding_window: null,
        use_sliding_window: false,
      };
      break;
  }
  // transformers writes keys sorted (json.dumps(sort_keys=True)).
  return Object.fromEntries(Object.entries(cfg).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Tensors (float64 values, rounded to float32) in a fixed generation order. */
function generateTensors(
  arch: TinyArch,
  d: TinyModelInfo['dims'],
  seed: number,
): { name: string; shape: number[]; data: Float64Array }[] {
  const rng = new Rng(seed);
  const out: { name: string; shape: number[]; data: Float64Array }[] = [];
  const add = (name: string, shape: number[], std: number, mean = 0): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = rng.normals(n, std, mean);
    for (let i = 0; i < n; i++) data[i] = Math.fround(data[i]!);
    out.push({ name, shape, data });
  };
  const { hidden: H, heads, kvHeads, headDim: hd, ffn: F, vocab: V } = d;
  // Scales: large enough that attention is not uniform and logits are not flat, small enough
  // that nothing saturates. Norm weights are 1 + noise.
  const lin = (fanIn: number): number => 0.8 / Math.sqrt(fanIn);
  add('model.embed_tokens.weight', [V, H], 1 / Math.sqrt(H));
  for (let l = 0; l < d.layers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [H], 0.1, 1);
    add(`${p}.self_attn.q_proj.weight`, [heads * hd, H], lin(H));
    if (arch === 'qwen2') add(`${p}.self_attn.q_proj.bias`, [heads * hd], 0.1);
    add(`${p}.self_attn.k_proj.weight`, [kvHeads * hd, H], lin(H));
    if (arch === 'qwen2') add(`${p}.self_attn.k_proj.bias`, [kvHeads * hd], 0.1);
    add(`${p}.self_attn.v_proj.weight`, [kvHeads * hd, H], lin(H));
    if (arch === 'qwen2') add(`${p}.self_attn.v_proj.bias`, [kvHeads * hd], 0.1);
    if (arch === 'qwen3') {
      add(`${p}.self_attn.q_norm.weight`, [hd], 0.1, 1);
      add(`${p}.self_attn.k_norm.weight`, [hd], 0.1, 1);
    }
    add(`${p}.self_attn.o_proj.weight`, [H, heads * hd], lin(heads * hd));
    add(`${p}.post_attention_layernorm.weight`, [H], 0.1, 1);
    add(`${p}.mlp.gate_proj.weight`, [F, H], lin(H));
    add(`${p}.mlp.up_proj.weight`, [F, H], lin(H));
    add(`${p}.mlp.down_proj.weight`, [H, F], lin(F));
  }
  add('model.norm.weight', [H], 0.1, 1);
  // lm_head is always drawn (so tied/untied models share the other weights) but only written untied.
  add('lm_head.weight', [V, H], 1 / Math.sqrt(H));
  if (d.tie) out.pop();
  return out;
}

/**
 * Write a tiny random HF model folder to `dir` (created if missing). Synchronous.
 */
export function writeTinyModel(dir: string, arch: TinyArch, opts: TinyModelOptions = {}): TinyModelInfo {
  const hidden = opts.hidden ?? 32;
  const heads = opts.heads ?? 4;
  const kvHeads = opts.kvHeads ?? 2;
  if (hidden % heads !== 0 && opts.headDim === undefined) throw new Error('hidden must be divisible by heads');
  if (heads % kvHeads !== 0) throw new Error('heads must be divisible by kvHeads');
  const defaultHeadDim = arch === 'qwen3' ? (2 * hidden) / heads : hidden / heads;
  const dims: TinyModelInfo['dims'] = {
    hidden,
    layers: opts.layers ?? 2,
    heads,
    kvHeads,
    headDim: opts.headDim ?? defaultHeadDim,
    ffn: opts.ffn ?? 2 * hidden,
    vocab: TINY_VOCAB,
    tie: opts.tie ?? (arch === 'qwen2' || arch === 'qwen3'),
    dtype: opts.dtype ?? 'F32',
  };
  if (dims.headDim % 2 !== 0) throw new Error('head_dim must be even (RoPE)');
  mkdirSync(dir, { recursive: true });

  const config = buildConfig(arch, dims, opts);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(
    join(dir, 'generation_config.json'),
    JSON.stringify({ _from_model_config: true, bos_token_id: 1, eos_token_id: 2, transformers_version: '4.51.3' }, null, 2) + '\n',
  );
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
    copyFileSync(join(STORIES260K_HF_DIR, f), join(dir, f));
  }

  const tensors: StTensorIn[] = generateTensors(arch, dims, opts.seed ?? 1234).map((t) => ({
    ...t,
    dtype: dims.dtype as StDtype,
  }));
  const files: string[] = [];
  if (!opts.sharded) {
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
    files.push('model.safetensors');
  } else {
    const half = Math.ceil(tensors.length / 2);
    const shards = [tensors.slice(0, half), tensors.slice(half)];
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    shards.forEach((shard, i) => {
      const name = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(join(dir, name), shard);
      files.push(name);
      for (const t of shard) {
        weightMap[t.name] = name;
        totalSize += t.data.length * (dims.dtype === 'F32' ? 4 : 2);
      }
    });
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n',
    );
  }
  return { dir, arch, config, tensorNames: tensors.map((t) => t.name), files, dims };
}
