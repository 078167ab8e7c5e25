/**
 * Loads a base model from a Hugging Face folder (config.json, safetensors, tokenizer files) or a
 * GGUF file into the blueprint + weights + tokenizer triple the graphs are built from.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { AttuneError } from '../../shared/errors.js';
import { ModelTokenizer } from '../tokenizer/tokenizer.js';
import { readSafetensorsDirHeaders, readSafetensorsDirMapped, readTensorAt, readTensorF32Into, tensorToFloat32, type TensorLocation } from '../weights/safetensors.js';
import { GGUF_NAMING, HF_NAMING, hfToCanonical } from '../weights/tensor-names.js';
import { parseHfConfig, type ModelConfig } from './config.js';
import { checkWeights, ModelWeights, type WeightTensor } from './weights.js';
import { resolveModelName } from '../sources/resolve.js';
import { isGgufFile } from '../sources/local-stores.js';

export interface LoadedModel {
  /** The path the person gave: a folder or a .gguf file. */
  path: string;
  source: 'huggingface' | 'gguf';
  config: ModelConfig;
  rawConfig: Record<string, unknown>;
  weights: ModelWeights;
  tokenizer: ModelTokenizer;
  /** Stored dtype of the weights before conversion (F32, F16, BF16, Q8_0, ...). */
  storedDtype: string;
  /** Identity of the files, for graph caches: changes when any file changes. */
  fingerprint: string;
}

const PICKLE_EXTENSIONS = ['.bin', '.pt', '.pth', '.ckpt', '.pkl'];

export interface LoadOptions {
  template?: string;
  /**
   * Check the folder from the safetensors headers only and read the weights when something
   * first needs them: a chat or a run whose graphs are cached never holds them in JavaScript.
   */
  lazyWeights?: boolean;
}

export async function loadModel(name: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  // A repo id (org/name) is the Hugging Face cache's snapshot, an Ollama name:tag its GGUF layer: no network.
  const modelPath = resolveModelName(name);
  const info = await stat(modelPath).catch(() => undefined);
  if (!info) throw new AttuneError('model.not-found', { path: modelPath }, { file: modelPath });
  if (info.isFile()) {
    // GGUF by its magic bytes: Ollama's blobs have no extension.
    if (modelPath.toLowerCase().endsWith('.gguf') || isGgufFile(modelPath)) return loadGguf(modelPath, opts);
    if (PICKLE_EXTENSIONS.some((e) => modelPath.toLowerCase().endsWith(e))) throw pickleError(modelPath);
    throw new AttuneError('model.format', { path: modelPath }, { file: modelPath });
  }
  return loadHfFolder(modelPath, opts);
}

function pickleError(file: string): AttuneError {
  return new AttuneError('model.pickle', { file }, { file });
}

async function loadHfFolder(dir: string, opts: LoadOptions): Promise<LoadedModel> {
  const configFile = path.join(dir, 'config.json');
  const entries = await readdir(dir);
  if (!entries.includes('config.json')) {
    throw new AttuneError('model.config-missing', { file: configFile }, { file: configFile });
  }
  const hasSafetensors = entries.some((e) => e.endsWith('.safetensors'));
  if (!hasSafetensors) {
    const pickle = entries.find((e) => PICKLE_EXTENSIONS.some((x) => e.endsWith(x)));
    if (pickle) throw pickleError(path.join(dir, pickle));
    throw new AttuneError('model.weights-missing', { dir }, { file: dir });
  }
  let rawConfig: Record<string, unknown>;
  try {
    rawConfig = JSON.parse(await readFile(configFile, 'utf8'));
  } catch (e) {
    throw new AttuneError('model.config-invalid', { file: configFile, detail: (e as Error).message }, { file: configFile });
  }
  const config = parseHfConfig(rawConfig, configFile);
  let tensors: Map<string, WeightTensor> | undefined;
  let storedDtype: string;
  let readOne: ConstructorParameters<typeof ModelWeights>[3];
  if (opts.lazyWeights) {
    const header = await readSafetensorsDirHeaders(dir);
    const located = new Map<string, TensorLocation & { hfName: string }>();
    for (const [name, t] of header.tensors) located.set(canonicalName(name, dir, config), { ...t, hfName: name });
    checkWeights(config, located, dir, HF_NAMING);
    storedDtype = [...header.tensors.values()][0]?.dtype ?? 'F32';
    readOne = {
      names: new Set(located.keys()),
      shape: (name) => located.get(name)!.shape,
      read: (name) => {
        const loc = located.get(name)!;
        return { shape: loc.shape, data: tensorToFloat32(readTensorAt(loc), loc.hfName, dir) };
      },
      readInto: (name, out, scratch) => readTensorF32Into(located.get(name)!, out, scratch, located.get(name)!.hfName),
    };
  } else {
    ({ tensors, storedDtype } = await readHfTensors(dir, config));
  }
  const tokenizer = await ModelTokenizer.fromFolder(dir, opts);
  checkTokenizer(tokenizer, config, path.join(dir, 'tokenizer.json'));
  const fingerprint = await folderFingerprint(dir, entries);
  const weights = new ModelWeights(tensors, dir, async () => (await readHfTensors(dir, config)).tensors, readOne, HF_NAMING);
  return { path: dir, source: 'huggingface', config, rawConfig, weights, tokenizer, storedDtype, fingerprint };
}

/** The folder's safetensors as canonical F32 tensors, checked against the config. */
async function readHfTensors(dir: string, config: ModelConfig): Promise<{ tensors: Map<string, WeightTensor>; storedDtype: string }> {
  let storedDtype = 'F32';
  // Converted as read: the raw bytes of one tensor at a time, never the whole file.
  const file = await readSafetensorsDirMapped(dir, (name, t) => {
    storedDtype = t.dtype;
    return { name: canonicalName(name, dir, config), tensor: { shape: t.shape, data: tensorToFloat32(t, name, dir) } };
  });
  const tensors = new Map<string, WeightTensor>([...file.tensors.values()].map((x) => [x.name, x.tensor]));
  checkWeights(config, tensors, dir, HF_NAMING);
  return { tensors, storedDtype };
}

async function loadGguf(file: string, opts: LoadOptions): Promise<LoadedModel> {
  const g = await readGgufWeights(file);
  const config = parseHfConfig(g.config, file);
  const tensors = canonicalGgufTensors(g.tensors, config, file);
  const tokenizer = new ModelTokenizer({ tokenizerJson: g.tokenizerJson, tokenizerConfig: g.tokenizerConfig }, opts);
  checkTokenizer(tokenizer, config, file);
  const st = await stat(file);
  return {
    path: file,
    source: 'gguf',
    config,
    rawConfig: g.config,
    weights: new ModelWeights(tensors, file, async () => canonicalGgufTensors((await readGgufWeights(file)).tensors, config, file), undefined, GGUF_NAMING),
    tokenizer,
    storedDtype: ggufDtype(tensors),
    fingerprint: `${path.resolve(file)}:${st.size}:${st.mtimeMs}`,
  };
}

/** What a GGUF base is held as: its block types multiplied as stored (nbits.ts), the rest F32. */
function ggufDtype(tensors: Map<string, WeightTensor>): string {
  const kept = [...new Set([...tensors.values()].flatMap((t) => (t.gguf ? [t.gguf.type] : [])))].sort();
  return kept.length ? `GGUF (${kept.join(', ')} as stored, the rest read as F32)` : 'GGUF (read as F32)';
}

/** `name` as read (Hugging Face spelling; GGUF files are read into it too) -> canonical. */
function canonicalName(name: string, source: string, config: ModelConfig): string {
  const canonical = hfToCanonical(name);
  if (!canonical) throw new AttuneError('model.tensor-unexpected', { file: source, tensor: name, arch: config.arch.name }, { file: source, field: name });
  return canonical;
}

async function readGgufWeights(file: string) {
  // Loaded lazily: most runs never touch GGUF.
  const { readGgufModel } = await import('../weights/gguf-model.js');
  return readGgufModel(file);
}

function canonicalGgufTensors(source: Map<string, WeightTensor>, config: ModelConfig, file: string): Map<string, WeightTensor> {
  const tensors = new Map<string, WeightTensor>();
  // The tensors themselves: a kept GGUF matrix expands `data` only when read (gguf-model.ts).
  for (const [name, t] of source) tensors.set(canonicalName(name, file, config), t);
  checkWeights(config, tensors, file, GGUF_NAMING);
  return tensors;
}

function checkTokenizer(tok: ModelTokenizer, cfg: ModelConfig, file: string): void {
  // Models often pad the embedding table beyond the tokenizer; the reverse cannot work.
  if (tok.vocabSize > cfg.vocab) {
    throw new AttuneError('model.tokenizer-mismatch', { file, tokens: tok.vocabSize, vocab: cfg.vocab }, { file });
  }
}

async function folderFingerprint(dir: string, entries: string[]): Promise<string> {
  const parts: string[] = [path.resolve(dir)];
  for (const e of entries.sort()) {
    const s = await stat(path.join(dir, e));
    if (s.isFile()) parts.push(`${e}:${s.size}:${s.mtimeMs}`);
  }
  return parts.join('|');
}
