/**
 * A LoRA adapter in memory, and its Hugging Face PEFT form on disk:
 *   adapter_config.json  (peft_type LORA, r, lora_alpha, target_modules, ...)
 *   adapter_model.safetensors with keys
 *     base_model.model.model.layers.{l}.self_attn.q_proj.lora_A.weight   [r, in]
 *     base_model.model.model.layers.{l}.self_attn.q_proj.lora_B.weight   [out, r]
 *   and, with trained token rows (`trainable_token_indices` in the config), PEFT's
 *     base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta   [n, D]
 *     base_model.model.lm_head.token_adapter.trainable_tokens_delta              [n, D] (untied)
 * so the adapter also loads in PEFT (`PeftModel.from_pretrained(base, dir)`).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { AttuneError } from '../../shared/errors.js';
import type { ModelConfig } from '../models/config.js';
import { LORA_TARGETS, projectionShape, type LoraTarget } from '../models/lora-targets.js';
import { readSafetensors, tensorToFloat32, float32ToTensor, writeSafetensors, type SafetensorsTensor } from '../weights/safetensors.js';
import { writeDirAtomic, writeTextAtomic } from '../util/atomic.js';

/** HF module path of each LoRA target inside a decoder layer (the same for all supported archs). */
export const HF_TARGET_MODULE: Record<LoraTarget, string> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
};

export interface TokenRows {
  ids: number[];
  /** Tuned embedding rows [n, D] (absolute values, not deltas). */
  embed: Float32Array;
  /** The base model's rows for the same ids (to blend towards at lora_scale 0). */
  baseEmbed: Float32Array;
  /** Untied models: tuned and base LM-head rows. */
  head?: Float32Array;
  baseHead?: Float32Array;
}

export interface Adapter {
  rank: number;
  alpha: number;
  dropout: number;
  targets: LoraTarget[];
  /** Keyed `blk.{l}.{target}`: A [r, in] and B [out, r], row-major. */
  factors: Map<string, { a: Float32Array; b: Float32Array }>;
  tokenRows?: TokenRows;
  /** Chat template the adapter was trained with ('model' or a named template). */
  template?: string;
  baseModel?: string;
}

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

const TOKEN_ROWS_KEY = {
  embed: 'base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta',
  head: 'base_model.model.lm_head.token_adapter.trainable_tokens_delta',
};

const peftKey = (layer: number, t: LoraTarget, f: 'A' | 'B') => `base_model.model.model.layers.${layer}.${HF_TARGET_MODULE[t]}.lora_${f}.weight`;

/** Writes the adapter folder whole: into a temporary sibling, then renamed into place. */
export async function saveAdapter(dir: string, adapter: Adapter, cfg: ModelConfig): Promise<void> {
  await writeDirAtomic(dir, (tmp) => writeAdapterFiles(tmp, adapter, cfg));
}

async function writeAdapterFiles(dir: string, adapter: Adapter, cfg: ModelConfig): Promise<void> {
  const tensors = new Map<string, SafetensorsTensor>();
  for (let l = 0; l < cfg.layers; l++) {
    for (const t of adapter.targets) {
      const f = adapter.factors.get(`blk.${l}.${t}`)!;
      const [out, inp] = projectionShape(cfg, t);
      tensors.set(peftKey(l, t, 'A'), float32ToTensor(f.a, [adapter.rank, inp], 'F32'));
      tensors.set(peftKey(l, t, 'B'), float32ToTensor(f.b, [out, adapter.rank], 'F32'));
    }
  }
  const config: Record<string, unknown> = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: adapter.rank,
    lora_alpha: adapter.alpha,
    lora_dropout: adapter.dropout,
    target_modules: adapter.targets.map((t) => HF_TARGET_MODULE[t].split('.')[1]),
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    use_rslora: false,
    init_lora_weights: true,
    base_model_name_or_path: adapter.baseModel ?? null,
    modules_to_save: null,
    attune: { template: adapter.template ?? null },
  };
  if (adapter.tokenRows) {
    const { ids, embed, head } = adapter.tokenRows;
    const D = cfg.hidden;
    // PEFT's trainable tokens: despite the name, `trainable_tokens_delta` holds the rows' new
    // values, which PEFT writes over the base rows (index_copy), not differences.
    config.trainable_token_indices = cfg.tieEmbeddings ? ids : { embed_tokens: ids, lm_head: ids };
    tensors.set(TOKEN_ROWS_KEY.embed, float32ToTensor(embed, [ids.length, D], 'F32'));
    if (!cfg.tieEmbeddings && head) tensors.set(TOKEN_ROWS_KEY.head, float32ToTensor(head, [ids.length, D], 'F32'));
  }
  await writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  await writeTextAtomic(path.join(dir, ADAPTER_CONFIG), JSON.stringify(config, null, 2) + '\n');
}

/** Whether the adapter also replaces token rows (then loading it needs the base model's rows). */
export async function adapterHasTokenRows(dir: string): Promise<boolean> {
  try {
    return Boolean(JSON.parse(await readFile(path.join(dir, ADAPTER_CONFIG), 'utf8')).trainable_token_indices);
  } catch {
    return false; // loadAdapter reports what is wrong with the folder
  }
}

/**
 * Reads a PEFT LoRA adapter for `cfg`'s model. `baseRows(ids)` supplies the base model's
 * embedding (and head) rows, since the file stores trained tokens as deltas.
 */
export async function loadAdapter(
  dir: string,
  cfg: ModelConfig,
  baseRows?: (ids: number[]) => { embed: Float32Array; head?: Float32Array },
): Promise<Adapter> {
  const configFile = path.join(dir, ADAPTER_CONFIG);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS);
  for (const f of [configFile, weightsFile]) {
    if (!(await stat(f).then((s) => s.isFile(), () => false))) {
      const pickled = await stat(path.join(dir, 'adapter_model.bin')).then(() => true, () => false);
      throw pickled && f === weightsFile
        ? new AttuneError('adapter.pickle', { dir }, { file: f })
        : new AttuneError('adapter.file-missing', { file: f, config: ADAPTER_CONFIG, weights: ADAPTER_WEIGHTS }, { file: f });
    }
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(configFile, 'utf8'));
  } catch (e) {
    throw new AttuneError('adapter.config-invalid', { file: configFile, detail: (e as Error).message }, { file: configFile });
  }
  if (raw.peft_type !== 'LORA') {
    throw new AttuneError('adapter.not-lora', { file: configFile, peftType: JSON.stringify(raw.peft_type) }, { file: configFile, field: 'peft_type' });
  }
  const rank = Number(raw.r);
  const alpha = Number(raw.lora_alpha ?? rank);
  const modules = Array.isArray(raw.target_modules) ? (raw.target_modules as string[]) : [];
  const targets = LORA_TARGETS.filter((t) => modules.includes(HF_TARGET_MODULE[t].split('.')[1]));
  const file = await readSafetensors(weightsFile);
  const factors = new Map<string, { a: Float32Array; b: Float32Array }>();
  for (let l = 0; l < cfg.layers; l++) {
    for (const t of targets) {
      const [out, inp] = projectionShape(cfg, t);
      const get = (f: 'A' | 'B', shape: number[]) => {
        const key = peftKey(l, t, f);
        const tensor = file.tensors.get(key) ?? file.tensors.get(key.replace('.weight', '.default.weight'));
        if (!tensor) throw new AttuneError('adapter.tensor-missing', { file: weightsFile, tensor: key }, { file: weightsFile, field: key });
        if (tensor.shape.join(',') !== shape.join(',')) {
          throw new AttuneError('adapter.tensor-shape', { file: weightsFile, tensor: key, shape: String(tensor.shape), expected: String(shape) }, { file: weightsFile, field: key });
        }
        return tensorToFloat32(tensor, key, weightsFile);
      };
      factors.set(`blk.${l}.${t}`, { a: get('A', [rank, inp]), b: get('B', [out, rank]) });
    }
  }
  const adapter: Adapter = {
    rank,
    alpha,
    dropout: Number(raw.lora_dropout ?? 0),
    targets,
    factors,
    template: ((raw.attune as Record<string, unknown> | undefined)?.template as string | undefined) ?? undefined,
    baseModel: typeof raw.base_model_name_or_path === 'string' ? raw.base_model_name_or_path : undefined,
  };
  const tti = raw.trainable_token_indices;
  if (tti) {
    const ids = Array.isArray(tti) ? (tti as number[]) : ((tti as Record<string, number[]>).embed_tokens ?? []);
    const embedRows = file.tensors.get(TOKEN_ROWS_KEY.embed);
    if (!embedRows) throw new AttuneError('adapter.token-rows-missing', { file: weightsFile, config: ADAPTER_CONFIG }, { file: weightsFile });
    if (!baseRows) throw new Error('loadAdapter: an adapter with trained token rows needs the base model rows');
    const base = baseRows(ids);
    const headRows = file.tensors.get(TOKEN_ROWS_KEY.head);
    adapter.tokenRows = {
      ids,
      embed: tensorToFloat32(embedRows, TOKEN_ROWS_KEY.embed, weightsFile),
      baseEmbed: base.embed,
      head: headRows ? tensorToFloat32(headRows, TOKEN_ROWS_KEY.head, weightsFile) : undefined,
      baseHead: base.head,
    };
  }
  return adapter;
}
