/**
 * Exports a tuned model where businesses run models:
 *   peft       the LoRA adapter as a Hugging Face PEFT folder (plus tokenizer files and a README)
 *   merged     a Hugging Face model folder with the adapter merged into the weights
 *   gguf-*     one GGUF file (F32, F16, Q8_0 or Q4_0) with tokenizer and chat template in its
 *              metadata, an Ollama Modelfile and a README, in one folder
 * Every export is built in `<out>.tmp-<pid>` and renamed to `out` when complete; an existing `out`
 * is only replaced with `force`.
 */
import { copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AttuneError } from '../../shared/errors.js';
import { EXPORT_FORMATS, type ExportFormat } from '../../shared/formats.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../adapter/adapter.js';
import type { WeightTensor } from '../models/weights.js';
import { canonicalToHf } from '../weights/tensor-names.js';
import { buildModelfile } from './ollama.js';
import { mergeAdapterWeights, openExportSource, type ExportSource, type FloatDtype } from './source.js';

export { EXPORT_FORMATS, type ExportFormat };

const GGUF_TYPE = { 'gguf-f32': 'F32', 'gguf-f16': 'F16', 'gguf-q8_0': 'Q8_0', 'gguf-q4': 'Q4_0' } as const;

export interface ExportProgress {
  phase: 'load' | 'merge' | 'convert' | 'write' | 'done';
  done: number;
  total: number;
}

export interface ExportOptions {
  modelPath: string;
  /** The tuned adapter; optional for merged/gguf (then the base is converted as it is). */
  adapterDir?: string;
  format: ExportFormat;
  /** Folder to create. */
  out: string;
  /** Replace an existing `out` (the CLI's --force, the app's confirmation). */
  force?: boolean;
  /** System prompt for the Ollama Modelfile. */
  system?: string;
  /** merged: weight type of the safetensors (default: the base's; quantised GGUF bases give F16). */
  dtype?: FloatDtype;
  onProgress?: (p: ExportProgress) => void;
}

export interface ExportResult {
  format: ExportFormat;
  out: string;
  files: { name: string; bytes: number }[];
  /** Chat template the export carries ('model' = the base's own, or a named one). */
  template?: string;
  /** The Ollama TEMPLATE row used (gguf formats), or 'generic'. */
  ollamaTemplate?: string;
  warnings: string[];
}

export async function exportModel(o: ExportOptions): Promise<ExportResult> {
  if (!(EXPORT_FORMATS as readonly string[]).includes(o.format)) {
    throw new AttuneError('export.format', { format: o.format, formats: EXPORT_FORMATS.join(', ') }, { field: 'format' });
  }
  if (o.format === 'peft' && !o.adapterDir) throw new AttuneError('export.adapter-missing', {}, { field: 'adapter' });
  const out = path.resolve(o.out);
  refuseDangerousOut(out, o);
  if (!o.force && (await exists(out))) {
    throw new AttuneError('export.exists', { out: o.out }, { file: o.out });
  }
  const progress = o.onProgress ?? (() => undefined);
  progress({ phase: 'load', done: 0, total: 1 });
  const src = await openExportSource(o.modelPath, o.adapterDir);
  progress({ phase: 'load', done: 1, total: 1 });

  const tmp = `${out}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const warnings: string[] = [];
  let ollamaTemplate: string | undefined;
  try {
    if (o.format === 'peft') await writePeft(tmp, src, o.adapterDir!);
    else if (o.format === 'merged') await writeMerged(tmp, src, o.dtype ?? src.weightDtype, progress);
    else {
      const m = await writeGgufFolder(tmp, out, src, GGUF_TYPE[o.format], o.system, progress);
      ollamaTemplate = m.template;
      if (m.warning) warnings.push(m.warning);
    }
    if (!src.chatTemplate) warnings.push('The model has no chat template, so the export carries none; chat clients will need one.');
    await writeFile(path.join(tmp, 'README.md'), readme(o.format, src, path.basename(out), o.adapterDir));
    if (o.force) await rm(out, { recursive: true, force: true });
    else if (await exists(out)) throw new AttuneError('export.appeared', { out: o.out }, { file: o.out });
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  const files = await listFiles(out);
  progress({ phase: 'done', done: 1, total: 1 });
  return { format: o.format, out, files, template: src.templateName, ollamaTemplate, warnings };
}

/** `--force` deletes `out`: never let that be a folder holding the inputs, the home folder or a root. */
function refuseDangerousOut(out: string, o: ExportOptions): void {
  const inside = (child: string, parent: string) => {
    const rel = path.relative(parent, child);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  };
  const inputs = [o.modelPath, o.adapterDir].filter((p): p is string => !!p).map((p) => path.resolve(p));
  const bad = inputs.some((p) => inside(p, out)) || out === path.parse(out).root || out === path.resolve(os.homedir()) || out === process.cwd();
  if (bad) throw new AttuneError('export.out-unsafe', { out: o.out }, { file: o.out });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

async function listFiles(dir: string): Promise<{ name: string; bytes: number }[]> {
  const { readdir } = await import('node:fs/promises');
  const names = (await readdir(dir)).sort();
  return Promise.all(names.map(async (name) => ({ name, bytes: (await stat(path.join(dir, name))).size })));
}

/** tokenizer.json + tokenizer_config.json (with the trained chat template). */
async function writeTokenizerFiles(dir: string, src: ExportSource): Promise<void> {
  await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(src.tokenizerJson, null, 2) + '\n');
  await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(src.tokenizerConfig, null, 2) + '\n');
}

async function writePeft(dir: string, src: ExportSource, adapterDir: string): Promise<void> {
  // The adapter files are already PEFT's format; copy them byte for byte.
  for (const f of [ADAPTER_CONFIG, ADAPTER_WEIGHTS]) await copyFile(path.join(adapterDir, f), path.join(dir, f));
  await writeTokenizerFiles(dir, src);
}

const TORCH_DTYPE: Record<FloatDtype, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** The merged weights under HF names (float32), reporting progress per adapted tensor. */
function mergedHfTensors(src: ExportSource, progress: (p: ExportProgress) => void): Map<string, WeightTensor> {
  const merged = mergeAdapterWeights(src.model, src.adapter, (done, total) => progress({ phase: 'merge', done, total }));
  const hf = new Map<string, WeightTensor>();
  for (const [name, t] of merged) {
    const hfName = canonicalToHf(name);
    if (!hfName) throw new AttuneError('export.tensor-unnamed', { tensor: name }, { field: name });
    hf.set(hfName, t);
  }
  return hf;
}

async function writeMerged(dir: string, src: ExportSource, dtype: FloatDtype, progress: (p: ExportProgress) => void): Promise<void> {
  const { float32ToTensor, writeSafetensors } = await import('../weights/safetensors.js');
  const hf = mergedHfTensors(src, progress);
  const tensors = new Map<string, ReturnType<typeof float32ToTensor>>();
  let i = 0;
  for (const [name, t] of hf) {
    tensors.set(name, float32ToTensor(t.data, t.shape, dtype));
    progress({ phase: 'convert', done: ++i, total: hf.size });
  }
  progress({ phase: 'write', done: 0, total: 1 });
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  const config: Record<string, unknown> = { ...src.hfConfig, torch_dtype: TORCH_DTYPE[dtype] };
  if (src.model.config.tieEmbeddings) config.tie_word_embeddings = true;
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  await writeTokenizerFiles(dir, src);
  for (const f of src.extraFiles) await copyFile(f, path.join(dir, path.basename(f)));
  progress({ phase: 'write', done: 1, total: 1 });
}

async function writeGgufFolder(
  dir: string,
  out: string,
  src: ExportSource,
  type: 'F32' | 'F16' | 'Q8_0' | 'Q4_0',
  system: string | undefined,
  progress: (p: ExportProgress) => void,
) {
  const { writeGgufModel } = await import('../weights/gguf-model.js');
  const hf = mergedHfTensors(src, progress);
  const base = path.basename(out).replace(/[^A-Za-z0-9._-]+/g, '-') || 'model';
  const ggufFile = `${base}.${type}.gguf`;
  // writeGgufModel converts tensor by tensor, reading each tensor's data once it gets to it:
  // report conversion progress from that first read.
  const total = hf.size;
  let done = 0;
  const tracked = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of hf) {
    let seen = false;
    tracked.set(name, {
      shape: t.shape,
      get data() {
        if (!seen) {
          seen = true;
          progress({ phase: 'convert', done: ++done, total });
        }
        return t.data;
      },
    });
  }
  const tok = src.tokenizer;
  const name = src.adapter ? `${base} (tuned with Attune)` : base;
  await writeGgufModel(path.join(dir, ggufFile), {
    config: src.hfConfig,
    tensors: tracked,
    tokenizerJson: src.tokenizerJson as never,
    tokenizerConfig: src.tokenizerConfig,
    type,
    name,
  });
  progress({ phase: 'write', done: 1, total: 1 });
  const stopTokens = tok.stopTokenIds.map((id) => tok.idToToken(id)).filter((s): s is string => typeof s === 'string');
  const modelfile = buildModelfile({ ggufFile, name: ollamaName(base), chatTemplate: src.chatTemplate, bosToken: tok.bosToken, eosToken: tok.eosToken, stopTokens, system });
  await writeFile(path.join(dir, 'Modelfile'), modelfile.text);
  return modelfile;
}

function readme(format: ExportFormat, src: ExportSource, name: string, adapterDir?: string): string {
  const base = src.model.path;
  const template = src.templateName === 'model' || !src.templateName ? "the base model's own chat template" : `the "${src.templateName}" chat template`;
  const head = `# ${name}\n\nExported by Attune from the base model \`${base}\`${adapterDir ? ` and the adapter \`${adapterDir}\`` : ''}. It uses ${template}, which the files below carry.\n\n`;
  if (format === 'peft') {
    return head +
      'A LoRA adapter in Hugging Face PEFT format (`adapter_config.json`, `adapter_model.safetensors`), with the tokenizer and its chat template.\n\n' +
      '```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\nfrom peft import PeftModel\n\n' +
      `base = AutoModelForCausalLM.from_pretrained("${base}")\n` +
      `model = PeftModel.from_pretrained(base, "${name}")\ntokenizer = AutoTokenizer.from_pretrained("${name}")\n` +
      'prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True, return_tensors="pt")\n' +
      'print(tokenizer.decode(model.generate(prompt, max_new_tokens=64)[0]))\n```\n\n' +
      (src.adapter?.tokenRows
        ? `Some token rows (ids ${src.adapter.tokenRows.ids.join(', ')}) were trained too; PEFT (0.15 or later) reads them from \`trainable_token_indices\`.\n\n`
        : '') +
      'To ship one model instead of base + adapter, merge it: `model = model.merge_and_unload()`, or export with `attune export --format merged`.\n';
  }
  if (format === 'merged') {
    return head +
      'A Hugging Face model folder with the adapter merged into the weights: load it like any model.\n\n' +
      '```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n' +
      `model = AutoModelForCausalLM.from_pretrained("${name}")\ntokenizer = AutoTokenizer.from_pretrained("${name}")\n\`\`\`\n\n` +
      `Attune reads it back too: \`attune chat --model ${name} --prompt "Hello"\`.\n`;
  }
  return head +
    'A GGUF file with the adapter merged in, and the tokenizer and chat template in its metadata.\n\n' +
    `- llama.cpp: \`llama-cli -m <the .gguf file> -cnv\` (or \`llama-server -m <the .gguf file>\`)\n` +
    '- LM Studio: copy the .gguf file into a folder under LM Studio\'s models folder (for example `~/.lmstudio/models/attune/' + name + '/`), or use `lms import <the .gguf file>`.\n' +
    `- Ollama: in this folder, \`ollama create ${ollamaName(name)} -f Modelfile\`, then \`ollama run ${ollamaName(name)}\`. The Modelfile sets the chat template, the stop tokens and any system prompt.\n`;
}

/** Ollama model names: lower case letters, digits, '.', '_' and '-'. */
function ollamaName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'my-model';
}
