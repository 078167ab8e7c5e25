/**
 * What every export starts from: the base model (HF folder or GGUF), the adapter, and the base's
 * files in Hugging Face form (config.json object, tokenizer.json, tokenizer_config.json with the
 * chat template the adapter was trained with), plus the LoRA merge itself.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { AttuneError } from '../../shared/errors.js';
import { loadAdapter, type Adapter } from '../adapter/adapter.js';
import { TARGET_MODULE } from '../models/lora-targets.js';
import { loadModel, type LoadedModel } from '../models/load.js';
import type { WeightTensor } from '../models/weights.js';
import { baseRows } from '../generate/chat-session.js';
import { NAMED_TEMPLATES } from '../tokenizer/chat-template.js';
import { ModelTokenizer } from '../tokenizer/tokenizer.js';

export type FloatDtype = 'F32' | 'F16' | 'BF16';

export interface ExportSource {
  model: LoadedModel;
  adapter?: Adapter;
  /** config.json of the base, as an object. */
  hfConfig: Record<string, unknown>;
  tokenizerJson: Record<string, unknown>;
  /** tokenizer_config.json, its chat_template set to the template the adapter was trained with. */
  tokenizerConfig: Record<string, unknown>;
  /** The tokenizer with that template: stop tokens, special token texts. */
  tokenizer: ModelTokenizer;
  /** Jinja source of the chat template, if the model has one. */
  chatTemplate?: string;
  /** 'model' (its own) or a NAMED_TEMPLATES key. */
  templateName?: string;
  /** Float type the base's weights are stored in (quantised GGUF bases count as F16). */
  weightDtype: FloatDtype;
  /** Other files of an HF base folder worth carrying over (generation_config.json, licences, ...). */
  extraFiles: string[];
}

/** Files of an HF folder that a merged export rewrites or must not carry over. */
const REWRITTEN = new Set(['config.json', 'tokenizer_config.json', 'tokenizer.json', 'chat_template.jinja', 'README.md', 'model.safetensors.index.json']);
const CARRIED = /^(generation_config\.json|special_tokens_map\.json|tokenizer\.model|vocab\.json|merges\.txt|added_tokens\.json|LICEN[CS]E.*|NOTICE.*|USE_POLICY.*)$/i;

export async function openExportSource(modelPath: string, adapterDir: string | undefined): Promise<ExportSource> {
  const model = await loadModel(modelPath);
  const adapter = adapterDir ? await loadAdapter(adapterDir, model.config, (ids) => baseRows(model, ids)) : undefined;
  let hfConfig: Record<string, unknown>;
  let tokenizerJson: Record<string, unknown>;
  let tokenizerConfig: Record<string, unknown>;
  let generationEos: number[] | undefined;
  let weightDtype: FloatDtype;
  const extraFiles: string[] = [];
  if (model.source === 'gguf') {
    const { readGguf } = await import('../weights/gguf.js');
    const { tokenizerFromGguf } = await import('../weights/gguf-tokenizer.js');
    const g = await readGguf(model.path);
    const tok = tokenizerFromGguf(g, model.path);
    tokenizerJson = tok.tokenizerJson;
    tokenizerConfig = { ...tok.tokenizerConfig };
    hfConfig = { ...model.rawConfig };
    const types = [...g.tensors.values()].filter((t) => t.shape.length === 2).map((t) => t.type.name as string);
    weightDtype = types.every((t) => t === 'F32') ? 'F32' : types.every((t) => t === 'BF16') ? 'BF16' : 'F16';
  } else {
    const dir = model.path;
    const json = async (name: string): Promise<Record<string, unknown> | undefined> => {
      try {
        return JSON.parse(await readFile(path.join(dir, name), 'utf8')) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    };
    hfConfig = { ...model.rawConfig };
    tokenizerJson = (await json('tokenizer.json'))!;
    tokenizerConfig = (await json('tokenizer_config.json')) ?? {};
    const ownJinja = await readFile(path.join(dir, 'chat_template.jinja'), 'utf8').catch(() => undefined);
    if (ownJinja !== undefined && typeof tokenizerConfig.chat_template !== 'string') tokenizerConfig.chat_template = ownJinja;
    const eos = (await json('generation_config.json'))?.eos_token_id;
    generationEos = typeof eos === 'number' ? [eos] : Array.isArray(eos) ? (eos as number[]) : undefined;
    weightDtype = model.storedDtype === 'F16' || model.storedDtype === 'BF16' ? model.storedDtype : 'F32';
    for (const e of await readdir(dir)) if (!REWRITTEN.has(e) && CARRIED.test(e)) extraFiles.push(path.join(dir, e));
  }
  const templateName = adapter?.template && adapter.template !== 'model' ? adapter.template : undefined;
  if (templateName && !NAMED_TEMPLATES[templateName]) {
    throw new AttuneError('export.template-unknown', { name: templateName });
  }
  if (templateName) tokenizerConfig.chat_template = NAMED_TEMPLATES[templateName];
  const tokenizer = new ModelTokenizer({ tokenizerJson, tokenizerConfig, generationEos }, { template: templateName });
  return {
    model,
    adapter,
    hfConfig,
    tokenizerJson,
    tokenizerConfig,
    tokenizer,
    chatTemplate: tokenizer.chatTemplateSource,
    templateName: tokenizer.templateName,
    weightDtype,
    extraFiles,
  };
}

/**
 * The base weights with the adapter folded in (canonical names, HF layout, float32):
 * W' = W + (alpha / rank) * B @ A for every adapted projection, and trained token rows written
 * into the embedding (and an untied head). Untouched tensors are shared, not copied.
 */
export function mergeAdapterWeights(
  model: LoadedModel,
  adapter: Adapter | undefined,
  onTensor?: (done: number, total: number) => void,
): Map<string, WeightTensor> {
  const out = new Map(model.weights.tensors);
  if (!adapter) return out;
  const cfg = model.config;
  const scale = adapter.alpha / adapter.rank;
  const r = adapter.rank;
  const total = cfg.layers * adapter.targets.length;
  let done = 0;
  for (let l = 0; l < cfg.layers; l++) {
    for (const t of adapter.targets) {
      const name = `blk.${l}.${TARGET_MODULE[t]}.weight`;
      const w = model.weights.get(name);
      const [rows, cols] = w.shape as [number, number];
      const { a, b } = adapter.factors.get(`blk.${l}.${t}`)!;
      const base = w.data; // read once: a kept GGUF matrix expands its blocks on each read of `data`
      const merged = new Float32Array(base.length);
      const acc = new Float64Array(cols);
      for (let o = 0; o < rows; o++) {
        acc.fill(0);
        for (let k = 0; k < r; k++) {
          const coef = scale * b[o * r + k]!;
          if (coef === 0) continue;
          const aRow = k * cols;
          for (let i = 0; i < cols; i++) acc[i] += coef * a[aRow + i]!;
        }
        const at = o * cols;
        for (let i = 0; i < cols; i++) merged[at + i] = base[at + i]! + acc[i]!;
      }
      out.set(name, { shape: w.shape, data: merged });
      onTensor?.(++done, total);
    }
  }
  const rows = adapter.tokenRows;
  if (rows) {
    const D = cfg.hidden;
    const replace = (name: string, values: Float32Array) => {
      const t = out.get(name)!;
      const data = t.data.slice();
      rows.ids.forEach((id, i) => data.set(values.subarray(i * D, (i + 1) * D), id * D));
      out.set(name, { shape: t.shape, data });
    };
    replace('token_embd.weight', rows.embed);
    if (!cfg.tieEmbeddings && rows.head && out.has('output.weight')) replace('output.weight', rows.head);
  }
  // A tied model may ship an identical output.weight; after a token-row edit it would be stale.
  if (cfg.tieEmbeddings) out.delete('output.weight');
  return out;
}
