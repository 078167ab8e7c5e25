/**
 * The benchmark model: a randomly initialised Llama with SmolLM2-135M's shapes (hidden 576,
 * 30 layers, 9 heads, 3 KV heads, head_dim 64, FFN 1536, vocabulary 49152, tied embeddings,
 * rope_theta 100000, RMSNorm eps 1e-5, 2048 positions), written once as a Hugging Face folder
 * (F32 safetensors) and as a GGUF F32 file with the same weights, cached under bench/.work/.
 *
 * The tokenizer is the 512-piece stories260K one: the benchmarks feed token ids, so only the
 * shapes matter. llama.cpp wants as many tokenizer entries as embedding rows, so the tokenizer
 * is padded with never-produced placeholder pieces up to the model's vocabulary (in both files,
 * so Attune and llama.cpp read the same tokenizer).
 *
 *   npx tsx bench/model.ts [--layers N] [--seed S]   prints the paths (writes them if missing)
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { float32ToTensor, writeSafetensors, type SafetensorsTensor } from '../src/engine/weights/safetensors.js';
import { writeGgufModel, type FloatTensor } from '../src/engine/weights/gguf-model.js';
import { intArg, log, parseArgs, REPO_ROOT, WORK_DIR } from './lib.js';
import { seededRandom } from '../src/engine/util/random.js';

export const SMOLLM2_135M = {
  hidden: 576,
  layers: 30,
  heads: 9,
  kvHeads: 3,
  headDim: 64,
  ffn: 1536,
  vocab: 49152,
  ropeTheta: 100000,
  rmsEps: 1e-5,
  maxPositions: 2048,
} as const;

/** Token ids the benches feed are below this (the real tokenizer's size). */
export const REAL_TOKENS = 512;

export interface BenchModel {
  hfDir: string;
  gguf: string;
  layers: number;
  config: Record<string, unknown>;
}

export const STORIES_DIR = (() => {
  const candidates = [process.env.ATTUNE_SHARED_MODELS, path.join(REPO_ROOT, '..', 'shared', 'models'), path.join(REPO_ROOT, 'shared', 'models')]
    .filter((c): c is string => !!c)
    .map((c) => path.join(c, 'stories260K-hf'));
  const found = candidates.find((c) => existsSync(path.join(c, 'tokenizer.json')));
  if (!found) throw new Error(`stories260K-hf tokenizer not found (looked in ${candidates.join(', ')}); set ATTUNE_SHARED_MODELS`);
  return found;
})();

/** The engine's mulberry32 + Box–Muller: fast, seeded, good enough for weights. */
class Rng {
  private spare: number | undefined;
  readonly uniform: () => number;
  constructor(seed: number) {
    this.uniform = seededRandom(seed);
  }
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u = Math.max(this.uniform(), 1e-12);
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  fill(n: number, std: number, mean = 0): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = mean + std * this.normal();
    return out;
  }
}

/** Widths that differ from SmolLM2-135M's (bench:infer --gguf-types with K-quants needs multiples of 256). */
export type BenchWidths = Pick<DecoderShape, 'hidden' | 'heads' | 'kvHeads' | 'ffn'>;

function hfConfig(layers: number, widths?: BenchWidths): Record<string, unknown> {
  const m = { ...SMOLLM2_135M, ...widths };
  return {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
    head_dim: m.headDim,
    hidden_act: 'silu',
    hidden_size: m.hidden,
    initializer_range: 0.02,
    intermediate_size: m.ffn,
    max_position_embeddings: m.maxPositions,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: m.heads,
    num_hidden_layers: layers,
    num_key_value_heads: m.kvHeads,
    pretraining_tp: 1,
    rms_norm_eps: m.rmsEps,
    rope_scaling: null,
    rope_theta: m.ropeTheta,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    transformers_version: '4.51.3',
    use_cache: true,
    vocab_size: m.vocab,
  };
}

export interface DecoderShape {
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  vocab: number;
  /** q, k and v projections with biases (Qwen2). */
  qkvBias?: boolean;
}

/**
 * The HF tensors of a Llama-family decoder in file order, with the mean of their random init:
 * projections and biases ~N(0, 0.02), norm weights ~N(1, 0.02).
 */
export function weightPlan(m: DecoderShape, layers: number): { name: string; shape: number[]; mean: number }[] {
  const q = m.heads * m.headDim;
  const kv = m.kvHeads * m.headDim;
  const plan: { name: string; shape: number[]; mean: number }[] = [];
  const add = (name: string, shape: number[], mean = 0) => plan.push({ name, shape, mean });
  add('model.embed_tokens.weight', [m.vocab, m.hidden]);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [m.hidden], 1);
    for (const [proj, out] of [['q', q], ['k', kv], ['v', kv]] as const) {
      add(`${p}.self_attn.${proj}_proj.weight`, [out, m.hidden]);
      if (m.qkvBias) add(`${p}.self_attn.${proj}_proj.bias`, [out]);
    }
    add(`${p}.self_attn.o_proj.weight`, [m.hidden, q]);
    add(`${p}.post_attention_layernorm.weight`, [m.hidden], 1);
    add(`${p}.mlp.gate_proj.weight`, [m.ffn, m.hidden]);
    add(`${p}.mlp.up_proj.weight`, [m.ffn, m.hidden]);
    add(`${p}.mlp.down_proj.weight`, [m.hidden, m.ffn]);
  }
  add('model.norm.weight', [m.hidden], 1);
  return plan;
}

/** Random weights for `plan`, generated one tensor at a time in file order. */
export function* randomWeights(plan: ReturnType<typeof weightPlan>, seed: number): Generator<[string, FloatTensor]> {
  const rng = new Rng(seed);
  for (const t of plan) yield [t.name, { shape: t.shape, data: rng.fill(t.shape.reduce((a, b) => a * b, 1), 0.02, t.mean) }];
}

/** The stories260K tokenizer.json with placeholder pieces appended up to `vocab` entries. */
export function paddedTokenizer(vocab: number): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const tokenizerJson = JSON.parse(readFileSync(path.join(STORIES_DIR, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
  const tokenizerConfig = JSON.parse(readFileSync(path.join(STORIES_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  const v = tokenizerJson.model.vocab;
  let n = Object.keys(v).length;
  for (let i = 0; n < vocab; i++) {
    const piece = `<pad_${i}>`;
    if (!(piece in v)) v[piece] = n++;
  }
  return { tokenizerJson, tokenizerConfig };
}

export function benchModelDir(layers: number, seed: number, widths?: BenchWidths): string {
  const w = widths ? `-h${widths.hidden}-f${widths.ffn}-a${widths.heads}-kv${widths.kvHeads}` : '';
  return path.join(WORK_DIR, `smollm2-135m-random-L${layers}-s${seed}${w}`);
}

/** Writes the model (HF folder + GGUF) unless a complete copy is cached; returns the paths. */
export async function ensureBenchModel(opts: { layers?: number; seed?: number; widths?: BenchWidths } = {}): Promise<BenchModel> {
  const layers = opts.layers ?? SMOLLM2_135M.layers;
  const seed = opts.seed ?? 1;
  const dir = benchModelDir(layers, seed, opts.widths);
  const hfDir = path.join(dir, 'hf');
  const gguf = path.join(dir, 'model-f32.gguf');
  const done = path.join(dir, 'done.json');
  const config = hfConfig(layers, opts.widths);
  if (existsSync(done)) return { hfDir, gguf, layers, config };

  const t0 = performance.now();
  log(`bench model: writing a random SmolLM2-135M-shaped model (${layers} layers, seed ${seed}${opts.widths ? `, widths ${JSON.stringify(opts.widths)}` : ''}) to ${path.relative(REPO_ROOT, dir)} ...`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(hfDir, { recursive: true });
  const weights = new Map(randomWeights(weightPlan({ ...SMOLLM2_135M, ...opts.widths }, layers), seed));
  const { tokenizerJson, tokenizerConfig } = paddedTokenizer(SMOLLM2_135M.vocab);

  writeFileSync(path.join(hfDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(path.join(hfDir, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }, null, 2) + '\n');
  writeFileSync(path.join(hfDir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  writeFileSync(path.join(hfDir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2));
  copyFileSync(path.join(STORIES_DIR, 'special_tokens_map.json'), path.join(hfDir, 'special_tokens_map.json'));
  const st = new Map<string, SafetensorsTensor>();
  for (const [name, t] of weights) st.set(name, float32ToTensor(t.data, t.shape, 'F32'));
  await writeSafetensors(path.join(hfDir, 'model.safetensors'), st);
  st.clear();

  await writeGgufModel(gguf, {
    config,
    tensors: weights,
    tokenizerJson: tokenizerJson as never,
    tokenizerConfig: tokenizerConfig as never,
    type: 'F32',
    name: `smollm2-135m-random-L${layers}`,
  });
  let params = 0;
  for (const t of weights.values()) params += t.data.length;
  writeFileSync(done, JSON.stringify({ layers, seed, params, written: new Date().toISOString() }, null, 2) + '\n');
  log(`bench model: ${(params / 1e6).toFixed(1)}M parameters written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { hfDir, gguf, layers, config };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = parseArgs(process.argv.slice(2));
  const m = await ensureBenchModel({ layers: intArg(args, 'layers', SMOLLM2_135M.layers), seed: intArg(args, 'seed', 1) });
  console.log(JSON.stringify({ hfDir: m.hfDir, gguf: m.gguf, layers: m.layers }, null, 2));
}
