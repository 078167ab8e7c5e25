/**
 * The base model's frozen weights in canonical (llama.cpp-style) names, as Float32 arrays.
 * F16/BF16/quantised sources are converted on load: the CPU graphs compute in F32.
 */
import { AttuneError } from '../../shared/errors.js';
import type { ModelConfig } from './config.js';
import { projectionShape, TARGET_MODULE, LORA_TARGETS } from './lora-targets.js';
import { GGUF_NAMING, type TensorNaming } from '../weights/tensor-names.js';
import type { GgufBlocks } from './nbits.js';
import type { ReadScratch } from '../weights/safetensors.js';

export interface WeightTensor {
  shape: number[];
  data: Float32Array;
  /** The matrix's GGUF blocks where its file stores it in a type the graphs compute with directly (nbits.ts). */
  gguf?: GgufBlocks;
}

/** Reads a source's tensors one at a time (see ModelWeights). */
export interface SingleTensorReader {
  names: ReadonlySet<string>;
  shape: (name: string) => number[];
  read: (name: string) => WeightTensor;
  /** The tensor's F32 values into `out`, through `scratch` (see readTensorF32Into). */
  readInto: (name: string, out: Float32Array, scratch: ReadScratch) => void;
}

export class ModelWeights {
  private current: Map<string, WeightTensor> | undefined;

  /**
   * `reload` reads the weights again after `release()`: once ONNX Runtime holds a session's
   * weights, the JavaScript copy is dropped instead of keeping the model twice in memory.
   * `readOne`, where the source allows it, reads a single tensor from disk on each `get` and keeps
   * nothing: building a graph then holds one full-precision tensor at a time, not the model.
   * `naming` spells names in messages as the source file does (canonical = GGUF by default).
   */
  constructor(
    tensors: Map<string, WeightTensor> | undefined,
    private readonly source: string,
    private readonly reload?: () => Promise<Map<string, WeightTensor>>,
    private readonly readOne?: SingleTensorReader,
    private readonly naming: TensorNaming = GGUF_NAMING,
  ) {
    this.current = tensors;
  }

  /** Every tensor in memory (after `loadAll`). */
  get tensors(): Map<string, WeightTensor> {
    if (!this.current) throw new Error(`the weights of ${this.source} were released; await loadAll() before using them`);
    return this.current;
  }

  get loaded(): boolean {
    return this.current !== undefined;
  }

  /** Drops the JavaScript copy (when it can be read again). */
  release(): void {
    if (this.reload) this.current = undefined;
  }

  /** Makes `get` work: a no-op when single tensors can be read from disk. */
  async ensureLoaded(): Promise<void> {
    if (!this.current && !this.readOne) this.current = await this.reload!();
  }

  /** Reads every tensor into memory (for work that walks them all, such as export). */
  async loadAll(): Promise<void> {
    if (!this.current) this.current = await this.reload!();
  }

  get(name: string): WeightTensor {
    let t: WeightTensor | undefined;
    if (this.current) t = this.current.get(name);
    else if (this.readOne) t = this.readOne.names.has(name) ? this.readOne.read(name) : undefined;
    else t = this.tensors.get(name); // released: throws
    if (!t) {
      const inFile = this.naming.inFile(name);
      throw new AttuneError('model.weight-missing', { file: this.source, weight: inFile }, { file: this.source, field: inFile });
    }
    return t;
  }

  /**
   * Whether tensors come from disk one at a time (nothing held): a graph can then take a weight's
   * values when its file is written (`readInto`) instead of holding them while it is built.
   */
  get readsSingly(): boolean {
    return !this.current && !!this.readOne;
  }

  /** The tensor's shape, without reading its values where the source allows it. */
  shapeOf(name: string): number[] {
    return this.readsSingly && this.readOne!.names.has(name) ? this.readOne!.shape(name) : this.get(name).shape;
  }

  /** Writes the tensor's F32 values into `out`; read straight into it where the source reads single tensors. */
  readInto(name: string, out: Float32Array, scratch: ReadScratch): void {
    if (this.readsSingly && this.readOne!.names.has(name)) this.readOne!.readInto(name, out, scratch);
    else out.set(this.get(name).data);
  }

  has(name: string): boolean {
    if (this.current) return this.current.has(name);
    return this.readOne ? this.readOne.names.has(name) : this.tensors.has(name);
  }
}

/** Every tensor the blueprint needs, with its shape: the importer checks count and shapes. */
export function expectedTensors(cfg: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  m.set('token_embd.weight', [cfg.vocab, cfg.hidden]);
  if (!cfg.tieEmbeddings) m.set('output.weight', [cfg.vocab, cfg.hidden]);
  m.set('output_norm.weight', [cfg.hidden]);
  for (let l = 0; l < cfg.layers; l++) {
    m.set(`blk.${l}.attn_norm.weight`, [cfg.hidden]);
    m.set(`blk.${l}.ffn_norm.weight`, [cfg.hidden]);
    for (const t of LORA_TARGETS) {
      const shape = projectionShape(cfg, t);
      m.set(`blk.${l}.${TARGET_MODULE[t]}.weight`, shape);
      if (cfg.arch.qkvBias && (t === 'q' || t === 'k' || t === 'v')) m.set(`blk.${l}.${TARGET_MODULE[t]}.bias`, [shape[0]]);
    }
    if (cfg.arch.qkNorm) {
      m.set(`blk.${l}.attn_q_norm.weight`, [cfg.headDim]);
      m.set(`blk.${l}.attn_k_norm.weight`, [cfg.headDim]);
    }
  }
  return m;
}

/**
 * Asserts that `weights` (canonical names) holds exactly the tensors the config implies, with the
 * right shapes. Messages name tensors as the source file does (`naming`).
 */
export function checkWeights(cfg: ModelConfig, tensors: Map<string, { shape: number[] }>, source: string, naming: TensorNaming): void {
  const expected = expectedTensors(cfg);
  const at = (name: string) => ({ file: source, field: naming.inFile(name) });
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) throw new AttuneError('model.weight-missing-for-config', { file: source, weight: naming.inFile(name), settings: naming.settings }, at(name));
    if (t.shape.join(',') !== shape.join(',')) {
      const vocab = (name === 'token_embd.weight' || name === 'output.weight') && t.shape[0] !== shape[0] ? ` (${t.shape[0]} tokens, but ${naming.settings} says the vocabulary has ${shape[0]})` : '';
      throw new AttuneError('model.weight-shape', { file: source, weight: naming.inFile(name), shape: String(t.shape), expected: String(shape), settings: naming.settings, vocab }, at(name));
    }
  }
  // A tied model may still ship an identical output.weight; anything else unexpected is an error.
  for (const name of tensors.keys()) {
    if (!expected.has(name) && !(name === 'output.weight' && cfg.tieEmbeddings)) {
      throw new AttuneError('model.weight-unexpected', { file: source, weight: naming.inFile(name), arch: cfg.arch.name, settings: naming.settings }, at(name));
    }
  }
}


/** Copies rows `ids` of a [rows, width] table (embedding or LM head) into one [ids, width] array. */
export function tableRows(weights: ModelWeights, name: string, ids: number[]): Float32Array {
  const t = weights.get(name);
  const width = t.shape[1];
  const out = new Float32Array(ids.length * width);
  ids.forEach((id, i) => out.set(t.data.subarray(id * width, (id + 1) * width), i * width));
  return out;
}

/** The base model's embedding rows (and untied LM-head rows) for token ids. */
export function baseRows(model: { config: ModelConfig; weights: ModelWeights }, ids: number[]): { embed: Float32Array; head?: Float32Array } {
  return {
    embed: tableRows(model.weights, 'token_embd.weight', ids),
    head: model.config.tieEmbeddings ? undefined : tableRows(model.weights, 'output.weight', ids),
  };
}
