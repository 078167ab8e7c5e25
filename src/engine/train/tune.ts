/**
 * `runTuning`: a whole tuning run from a model path and a data file, as the CLI and the app
 * start it. Imports and splits the data into the run folder (so the run can be reproduced and
 * resumed from its own copy), decides which token rows to train, writes config.json and runs
 * the trainer. `resumeTuning(runDir)` continues a run from its last checkpoint.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { AttuneError } from '../../shared/errors.js';
import { loadAdapter } from '../adapter/adapter.js';
import { importDataFile, readNormalizedJsonl, splitExamples, tokenizeConversation } from '../data/index.js';
import type { DataReport } from '../data/index.js';
import { loadModel, type LoadedModel } from '../models/load.js';
import { baseRows } from '../models/weights.js';
import { LORA_TARGETS, type LoraTarget } from '../models/decoder.js';
import { findUntrainedTokens, initialTokenRows } from '../models/untrained-tokens.js';
import { BASE_STORAGES, type BaseStorage } from '../models/base-storage.js';
import { DEVICE_LABELS, probeDevices, resolveDevice, type DeviceChoice, type DeviceProbe } from '../runtime/devices.js';
import type { ResolvedDevice } from '../runtime/session.js';
import { exists, runPaths, writeJsonAtomic } from './run-dir.js';
import { DEFAULT_PREFERENCE_BETA, TRAIN_METHODS } from './losses/preference.js';
import { METHOD_DEFAULTS, tokenizePairs } from './preference-data.js';
import { DEFAULT_HYPERPARAMETERS, train, type TrainerResult, type TrainingHyperparameters, type TuneEvent } from './trainer.js';

export interface TuneConfig extends Partial<TrainingHyperparameters> {
  model: string;
  data: string;
  out: string;
  format?: string;
  map?: Record<string, string>;
  valFraction?: number;
  initAdapter?: string;
  device?: DeviceChoice;
  template?: string;
  /** 'auto' trains the rows of untrained special tokens the template uses; 'none'; or explicit ids. */
  trainTokens?: 'auto' | 'none' | number[];
  threads?: number;
}

export type TuneProgress = TuneEvent | { type: 'data'; report: DataReport; train: number; validation: number } | { type: 'tokens'; ids: number[]; tokens: string[]; reason: string };

export interface TuneCallbacks {
  onEvent?: (e: TuneProgress) => void;
  signal?: AbortSignal;
}

export interface TuneResult extends TrainerResult {
  runDir: string;
  trainTokens: number[];
}

/** The resolved settings saved in config.json. */
export interface SavedRunConfig {
  version: 1;
  model: string;
  data: string;
  format?: string;
  map?: Record<string, string>;
  valFraction: number;
  initAdapter?: string;
  device: DeviceChoice;
  template?: string;
  trainTokens: 'auto' | 'none' | number[];
  hp: TrainingHyperparameters;
}

export async function runTuning(config: TuneConfig, cb: TuneCallbacks = {}): Promise<TuneResult> {
  const runDir = path.resolve(config.out);
  if (await exists(runPaths(runDir).config)) {
    throw new AttuneError('tune-run-exists', `${runDir} already holds a tuning run. Resume that run, or choose another folder.`, { file: runDir });
  }
  const hp = resolveHyperparameters(config);
  const saved: SavedRunConfig = {
    version: 1,
    model: path.resolve(config.model),
    data: path.resolve(config.data),
    format: config.format,
    map: config.map,
    valFraction: config.valFraction ?? 0.1,
    initAdapter: config.initAdapter ? path.resolve(config.initAdapter) : undefined,
    device: config.device ?? 'auto',
    template: config.template,
    trainTokens: config.trainTokens ?? 'auto',
    hp,
  };
  return execute(runDir, saved, false, config.threads, cb, config.baseStorage);
}

export async function resumeTuning(runDir: string, cb: TuneCallbacks & { threads?: number } = {}): Promise<TuneResult> {
  const dir = path.resolve(runDir);
  const file = runPaths(dir).config;
  if (!(await exists(file))) throw new AttuneError('tune-resume-missing', `${dir} is not a tuning run folder (it has no config.json).`, { file });
  let saved: SavedRunConfig;
  try {
    saved = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new AttuneError('tune-resume-invalid', `${file} cannot be read (${(e as Error).message}).`, { file });
  }
  return execute(dir, saved, true, cb.threads, cb, saved.hp.baseStorage ?? 'f32');
}

function resolveHyperparameters(c: TuneConfig): TrainingHyperparameters {
  const hp: TrainingHyperparameters = { ...DEFAULT_HYPERPARAMETERS };
  const keys = [...Object.keys(DEFAULT_HYPERPARAMETERS), 'maxSteps', 'method', 'beta'] as (keyof TrainingHyperparameters)[];
  const method = c.method ?? 'sft';
  if (!TRAIN_METHODS.includes(method)) throw new AttuneError('tune-setting', `The training method can be ${TRAIN_METHODS.join(', ')}, not "${String(method)}".`, { field: 'method' });
  // Each method's own defaults where the person set nothing (see METHOD_DEFAULTS).
  if (method !== 'sft') Object.assign(hp, METHOD_DEFAULTS[method]);
  for (const key of keys) {
    if (c[key] !== undefined) (hp as unknown as Record<string, unknown>)[key] = c[key];
  }
  if (method !== 'sft') {
    hp.beta ??= DEFAULT_PREFERENCE_BETA[method];
    if (!(hp.beta > 0)) throw new AttuneError('tune-setting', `${method === 'dpo' ? 'DPO\'s beta' : 'ORPO\'s weight of the preference term'} must be greater than 0 (got ${hp.beta}).`, { field: 'beta' });
  } else if (c.beta !== undefined) {
    throw new AttuneError('tune-setting', 'A beta is only used with --method dpo or orpo.', { field: 'beta' });
  }
  if (c.alpha === undefined) hp.alpha = 2 * hp.rank;
  const bad = hp.targets.filter((t) => !LORA_TARGETS.includes(t as LoraTarget));
  if (bad.length) throw new AttuneError('tune-targets', `Unknown target module(s): ${bad.join(', ')}. Choose from ${LORA_TARGETS.join(', ')}.`, { field: 'target' });
  if (!BASE_STORAGES.includes(hp.baseStorage)) throw new AttuneError('tune-setting', `The base weights can be stored as ${BASE_STORAGES.join(', ')}, not "${String(hp.baseStorage)}".`, { field: 'base-weights' });
  if (!(hp.loraDropout >= 0 && hp.loraDropout < 1)) throw new AttuneError('tune-setting', `LoRA dropout must be at least 0 and below 1 (got ${hp.loraDropout}).`, { field: 'lora-dropout' });
  const positive: Partial<Record<keyof TrainingHyperparameters, string>> = {
    rank: 'The LoRA rank',
    batchSize: 'The batch size',
    gradAccum: 'The number of batches per step',
    maxLength: 'The longest example length',
    lr: 'The learning rate',
  };
  for (const [k, label] of Object.entries(positive) as [keyof TrainingHyperparameters, string][]) {
    if (!(Number(hp[k]) > 0)) throw new AttuneError('tune-setting', `${label} must be greater than 0 (got ${String(hp[k])}).`, { field: k });
  }
  return hp;
}

/**
 * How the frozen base is stored on a device: as chosen, else half precision on a GPU that
 * computes in it (GPU memory is scarcer than RAM) and F32 elsewhere. F16 is refused, in words,
 * on a GPU without half-precision shaders (WebGPU adapters without shader-f16).
 */
export function baseStorageOn(device: ResolvedDevice, probe: DeviceProbe | undefined, chosen: BaseStorage | undefined): BaseStorage {
  const storage = chosen ?? (device !== 'cpu' && probe?.f16 ? 'f16' : 'f32');
  if (storage === 'f16' && probe?.f16 === false) {
    throw new AttuneError('tune-device-f16', `${DEVICE_LABELS[device]} cannot compute with half-precision numbers, so it cannot keep the base model at half size (f16). Choose the exact (f32), quarter (int8) or eighth (int4) size for the base model, or run on the CPU.`, { field: 'base-weights' });
  }
  return storage;
}

/** `chosenStorage`: the base storage the user chose, if any (a resumed run's saved one). */
async function execute(runDir: string, saved: SavedRunConfig, resume: boolean, threads: number | undefined, cb: TuneCallbacks, chosenStorage: BaseStorage | undefined): Promise<TuneResult> {
  const device = await resolveDevice(saved.device);
  const probe = device.device === 'cpu' ? undefined : (await probeDevices()).find((p) => p.device === device.device);
  saved.hp.baseStorage = baseStorageOn(device.device, probe, chosenStorage);
  const model = await loadModel(saved.model, { template: saved.template, lazyWeights: true });
  if (!model.tokenizer.hasChatTemplate) {
    throw new AttuneError('template-missing', `${saved.model} has no chat template. Choose one of Attune's templates (alpaca, chatml or llama3).`, { file: saved.model });
  }
  const hp = saved.hp;
  const dataCopy = path.join(runDir, 'data.jsonl');
  if (!resume) {
    await mkdir(runDir, { recursive: true });
    const report = await importDataFile(saved.data, {
      out: dataCopy,
      // The run folder is new (no config.json): a data.jsonl there is from an attempt that failed.
      force: true,
      format: saved.format as never,
      map: saved.map as never,
      tokenizer: model.tokenizer,
      maxLength: hp.maxLength,
      valFraction: saved.valFraction,
      seed: hp.seed,
      epochs: hp.epochs,
    });
    if (report.counts.imported === 0) {
      throw new AttuneError('tune-no-data', `No usable examples in ${saved.data}: all ${report.counts.rejected} were left out. Check the data to see why (for example, examples longer than ${hp.maxLength} tokens are left out).`, { file: saved.data });
    }
    cb.onEvent?.({ type: 'data', report, train: 0, validation: 0 });
  }
  const examples = await readNormalizedJsonl(dataCopy);
  const { train: trainSet, validation } = splitExamples(examples, { valFraction: saved.valFraction, seed: hp.seed });
  const method = hp.method ?? 'sft';
  const tokenizeSet = (set: typeof examples) =>
    method === 'sft' ? set.map((e) => tokenizeConversation(model.tokenizer, e.messages)) : tokenizePairs(model.tokenizer, set, saved.data);
  if (saved.trainTokens !== 'none') await model.weights.ensureLoaded(); // to find and seed the rows
  const trainTokens = resolveTrainTokens(model, saved.trainTokens);
  if (trainTokens.ids.length) cb.onEvent?.({ type: 'tokens', ids: trainTokens.ids, tokens: trainTokens.ids.map((id) => model.tokenizer.idToToken(id) ?? String(id)), reason: trainTokens.reason });
  if (!resume) await writeJsonAtomic(runPaths(runDir).config, saved);

  // The starting adapter's trained token rows (e.g. </s>) are part of the starting point too.
  if (saved.initAdapter) await model.weights.ensureLoaded();
  const initAdapter = saved.initAdapter ? await loadAdapter(saved.initAdapter, model.config, (ids) => baseRows(model, ids)) : undefined;
  if (initAdapter && (initAdapter.rank !== hp.rank || initAdapter.targets.join() !== hp.targets.join())) {
    throw new AttuneError('adapter-mismatch', `The starting adapter has rank ${initAdapter.rank} on ${initAdapter.targets.join(',')}, but this run uses rank ${hp.rank} on ${hp.targets.join(',')}. Use the same rank and targets.`);
  }
  const result = await train({
    model,
    runDir,
    train: tokenizeSet(trainSet),
    validation: tokenizeSet(validation),
    hp,
    device: device.device,
    trainTokens: trainTokens.ids.length ? trainTokens : undefined,
    initAdapter,
    resume,
    threads,
    onEvent: cb.onEvent,
    signal: cb.signal,
  });
  return { ...result, runDir, trainTokens: trainTokens.ids };
}

function resolveTrainTokens(model: LoadedModel, choice: 'auto' | 'none' | number[]): { ids: number[]; embed: Float32Array; head?: Float32Array; reason: string } {
  if (choice === 'none') return { ids: [], embed: new Float32Array(0), reason: '' };
  const untrained = findUntrainedTokens(model);
  const untrainedIds = new Set(untrained.map((u) => u.id));
  let ids: number[] = [];
  let reason = '';
  if (choice === 'auto') {
    ids = [...untrainedIds];
    reason = 'these tokens end or frame an answer in the chat template, but the base model never learned them';
  } else if (Array.isArray(choice)) {
    for (const id of choice) {
      if (!Number.isInteger(id) || id < 0 || id >= model.config.vocab) throw new AttuneError('tune-train-tokens', `Token id ${id} is outside the vocabulary (0-${model.config.vocab - 1}).`, { field: 'train-tokens' });
    }
    ids = [...new Set(choice)].sort((a, b) => a - b);
    reason = 'you asked for these tokens to be trained';
  }
  const embed = initialTokenRows(model, ids, untrainedIds, 'token_embd.weight');
  const head = model.config.tieEmbeddings ? undefined : initialTokenRows(model, ids, untrainedIds, 'output.weight');
  return { ids, embed, head, reason };
}
