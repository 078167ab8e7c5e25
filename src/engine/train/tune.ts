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
import { readNormalizedJsonl } from '../data/index.js';
import type { DataReport } from '../data/index.js';
import { loadModel, type LoadedModel } from '../models/load.js';
import { baseRows } from '../models/weights.js';
import { findUntrainedTokens, initialTokenRows } from '../models/untrained-tokens.js';
import type { BaseStorage } from '../models/base-storage.js';
import { DEVICE_LABELS, probeDevices, resolveDevice, type DeviceProbe } from '../runtime/devices.js';
import type { ResolvedDevice } from '../runtime/session.js';
import { exists, runPaths, writeJsonAtomic } from './run-dir.js';
import { stopExplanation } from './budget.js';
import { prepareRunData, tokenizeRunData, type PreparedData } from './prepared-data.js';
import { train, type TrainerResult, type TuneEvent } from './trainer.js';
import { hyperparametersOf, readSavedHyperparameters, resolveSettings, type TrainingHyperparameters } from './hyperparameters.js';
import type { TuneSettings } from '../../shared/tune-settings.js';

/**
 * A tuning run as the CLI and the app start it: the model, the data and the run folder, and any
 * of the tuning settings (src/shared/tune-settings.ts; the rest take their defaults).
 */
export interface TuneConfig extends Partial<TuneSettings> {
  model: string;
  data: string;
  out: string;
  format?: string;
  map?: Record<string, string>;
  /** Leave out near duplicates too (by default they are kept and reported as warnings). */
  dropNearDuplicates?: boolean;
}

export type TuneProgress = TuneEvent | { type: 'data'; report: DataReport; train: number; validation: number } | { type: 'tokens'; ids: number[]; tokens: string[]; reason: string };

export interface TuneCallbacks {
  onEvent?: (e: TuneProgress) => void;
  signal?: AbortSignal;
  /** Where validation runs (trainer.ts `shareTrainingSession` decides when absent); same losses either way. */
  validateInTrainingSession?: boolean;
}

export interface TuneResult extends TrainerResult {
  runDir: string;
  trainTokens: number[];
  /** Which limit ended the run, in words (also in the run folder's summary.json). */
  stopExplanation: string;
}

/** summary.json in the run folder: how the run (or its last resumed part) ended. */
export interface RunSummaryFile {
  steps: number;
  stoppedBecause: TrainerResult['stoppedBecause'];
  stopExplanation: string;
  epochs: number;
  maxSteps: number | null;
  bestStep: number | null;
  bestValLoss: number | null;
  finalLoss: number | null;
  adapterDir: string;
  finishedAt: string;
}

/**
 * The resolved settings saved in config.json: the settings of the run around the trainer and the
 * trainer's hyperparameters, under the settings' own names. Version 1 files used older names for
 * some hyperparameters (`lr`, `earlyStoppingPatience`); they are read with today's names.
 */
export interface SavedRunConfig extends Pick<TuneSettings, 'valFraction' | 'device' | 'template' | 'trainTokens' | 'initAdapter'> {
  version: 2;
  model: string;
  data: string;
  format?: string;
  map?: Record<string, string>;
  dropNearDuplicates?: boolean;
  hp: TrainingHyperparameters;
}

export async function runTuning(config: TuneConfig, cb: TuneCallbacks = {}): Promise<TuneResult> {
  const runDir = path.resolve(config.out);
  if (await exists(runPaths(runDir).config)) {
    throw new AttuneError('tune.run-exists', { dir: runDir }, { file: runDir });
  }
  const settings = resolveSettings(config);
  const saved: SavedRunConfig = {
    version: 2,
    model: path.resolve(config.model),
    data: path.resolve(config.data),
    format: config.format,
    map: config.map,
    valFraction: settings.valFraction,
    initAdapter: settings.initAdapter ? path.resolve(settings.initAdapter) : undefined,
    device: settings.device,
    template: settings.template,
    trainTokens: settings.trainTokens,
    dropNearDuplicates: config.dropNearDuplicates === true,
    hp: hyperparametersOf(settings),
  };
  return execute(runDir, saved, false, settings.threads, cb, settings.baseStorage);
}

export async function resumeTuning(runDir: string, cb: TuneCallbacks & { threads?: number } = {}): Promise<TuneResult> {
  const dir = path.resolve(runDir);
  const file = runPaths(dir).config;
  if (!(await exists(file))) throw new AttuneError('tune.resume-missing', { dir }, { file });
  const saved = await readRunConfig(file);
  return execute(dir, saved, true, cb.threads, cb, saved.hp.baseStorage);
}

/** A run's config.json, of this version or an older one, with today's names and defaults. */
export async function readRunConfig(file: string): Promise<SavedRunConfig> {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new AttuneError('tune.resume-invalid', { file, detail: (e as Error).message }, { file });
  }
  return {
    ...(raw as unknown as SavedRunConfig),
    version: 2,
    device: (raw.device as SavedRunConfig['device']) ?? 'auto',
    trainTokens: (raw.trainTokens as SavedRunConfig['trainTokens']) ?? 'auto',
    hp: readSavedHyperparameters(raw.hp, file),
  };
}

/**
 * How the frozen base is stored on a device: as chosen, else half precision on a GPU that
 * computes in it (GPU memory is scarcer than RAM) and F32 elsewhere. F16 is refused, in words,
 * on a GPU without half-precision shaders (WebGPU adapters without shader-f16).
 */
export function baseStorageOn(device: ResolvedDevice, probe: DeviceProbe | undefined, chosen: BaseStorage | undefined): BaseStorage {
  const storage = chosen ?? (device !== 'cpu' && probe?.f16 ? 'f16' : 'f32');
  if (storage === 'f16' && probe?.f16 === false) {
    throw new AttuneError('tune.device-f16', { device: DEVICE_LABELS[device] }, { field: 'base-storage' });
  }
  return storage;
}

/** `chosenStorage`: the base storage the user chose, if any (a resumed run's saved one). */
async function execute(runDir: string, saved: SavedRunConfig, resume: boolean, threads: number | undefined, cb: TuneCallbacks, chosenStorage: BaseStorage | undefined): Promise<TuneResult> {
  const device = await resolveDevice(saved.device, 'training');
  const probe = device.device === 'cpu' ? undefined : (await probeDevices()).find((p) => p.device === device.device);
  saved.hp.baseStorage = baseStorageOn(device.device, probe, chosenStorage);
  const model = await loadModel(saved.model, { template: saved.template, lazyWeights: true });
  if (!model.tokenizer.hasChatTemplate) {
    throw new AttuneError('tune.template-missing', { model: saved.model }, { file: saved.model });
  }
  const hp = saved.hp;
  const dataCopy = path.join(runDir, 'data.jsonl');
  let rows: Omit<PreparedData, 'report'>;
  if (!resume) {
    await mkdir(runDir, { recursive: true });
    const { report, ...prepared } = await prepareRunData(saved.data, dataCopy, model, hp, {
      format: saved.format, map: saved.map, valFraction: saved.valFraction, dropNearDuplicates: saved.dropNearDuplicates === true, template: saved.template,
    });
    if (report.counts.imported === 0) {
      throw new AttuneError('tune.no-usable-examples', { file: saved.data, rejected: report.counts.rejected, maxLength: hp.maxLength }, { file: saved.data });
    }
    cb.onEvent?.({ type: 'data', report, train: 0, validation: 0 });
    rows = prepared;
  } else {
    rows = tokenizeRunData(model, await readNormalizedJsonl(dataCopy), hp, saved.valFraction, saved.data);
  }
  if (saved.trainTokens !== 'none') await model.weights.ensureLoaded(); // to find and seed the rows
  const trainTokens = resolveTrainTokens(model, saved.trainTokens);
  if (trainTokens.ids.length) cb.onEvent?.({ type: 'tokens', ids: trainTokens.ids, tokens: trainTokens.ids.map((id) => model.tokenizer.idToToken(id) ?? String(id)), reason: trainTokens.reason });
  if (!resume) await writeJsonAtomic(runPaths(runDir).config, saved);

  // The starting adapter's trained token rows (e.g. </s>) are part of the starting point too.
  if (saved.initAdapter) await model.weights.ensureLoaded();
  const initAdapter = saved.initAdapter ? await loadAdapter(saved.initAdapter, model.config, (ids) => baseRows(model, ids)) : undefined;
  if (initAdapter && (initAdapter.rank !== hp.rank || initAdapter.targets.join() !== hp.targets.join())) {
    throw new AttuneError('adapter.rank-mismatch', { rank: initAdapter.rank, targets: initAdapter.targets.join(','), runRank: hp.rank, runTargets: hp.targets.join(',') });
  }
  const result = await train({
    model,
    runDir,
    train: rows.train,
    validation: rows.validation,
    hp,
    device: device.device,
    trainTokens: trainTokens.ids.length ? trainTokens : undefined,
    initAdapter,
    resume,
    threads,
    onEvent: cb.onEvent,
    signal: cb.signal,
    validateInTrainingSession: cb.validateInTrainingSession,
  });
  const explanation = stopExplanation(result.stoppedBecause, result.steps, hp);
  const summary: RunSummaryFile = {
    steps: result.steps, stoppedBecause: result.stoppedBecause, stopExplanation: explanation, epochs: hp.epochs, maxSteps: hp.maxSteps ?? null,
    bestStep: result.bestStep, bestValLoss: result.bestValLoss, finalLoss: result.finalLoss, adapterDir: result.adapterDir, finishedAt: new Date().toISOString(),
  };
  await writeJsonAtomic(path.join(runDir, 'summary.json'), summary);
  return { ...result, runDir, trainTokens: trainTokens.ids, stopExplanation: explanation };
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
      if (!Number.isInteger(id) || id < 0 || id >= model.config.vocab) throw new AttuneError('tune.train-tokens', { id, last: model.config.vocab - 1 }, { field: 'train-tokens' });
    }
    ids = [...new Set(choice)].sort((a, b) => a - b);
    reason = 'you asked for these tokens to be trained';
  }
  const embed = initialTokenRows(model, ids, untrainedIds, 'token_embd.weight');
  const head = model.config.tieEmbeddings ? undefined : initialTokenRows(model, ids, untrainedIds, 'output.weight');
  return { ids, embed, head, reason };
}
