/**
 * The training loop: tokenized conversations -> micro-batches -> the training-step session,
 * with accumulation, LR schedule, validation, early stopping, checkpoints and progress events.
 * Same seed + same data -> same losses; a killed run resumes from its last checkpoint on the
 * same trajectory (batch order is a function of seed and epoch, the RNG state is the position).
 */
import { mkdir, rm } from 'node:fs/promises';
import type { InferenceSession } from 'onnxruntime-node';
import { AttuneError } from '../../shared/errors.js';
import type { Adapter } from '../adapter/adapter.js';
import { saveAdapter } from '../adapter/adapter.js';
import type { LoadedModel } from '../models/load.js';
import { baseRows } from '../models/weights.js';
import { LORA_TARGETS, type LoraTarget } from '../models/decoder.js';
import type { BaseStorage } from '../models/base-storage.js';
import { cacheKey, cachedGraph } from '../runtime/cache.js';
import { createSession, floatTensor, int64Tensor, type Tensor } from '../runtime/session.js';
import type { ModelConfig } from '../models/config.js';
import type { ResolvedDevice } from '../runtime/session.js';
import { seededRandom } from '../util/random.js';
import { collate, epochBatches, type MicroBatch, type TokenizedExample } from './batches.js';
import { learningRate, type LrSchedule } from './schedule.js';
import {
  appendMetrics, exists, loadCheckpoint, loadTensors, runPaths, saveCheckpoint, saveTensors, truncateMetrics, writeJsonAtomic,
  type CheckpointState,
} from './run-dir.js';
import type { TrainMethod } from './losses/preference.js';
import { chosenTargetTokens, pairLengths, pairRows, preferenceFeeds, referenceLogps, refRows, rewardMetrics, sequenceLogps, type ReferenceLogps } from './preference-run.js';
import {
  buildTrainStepGraph, loraParamName, packTensors, trainableTensors, unpackTensors, TOKEN_EMBED_PARAM, TOKEN_HEAD_PARAM, type StepGraphOptions,
} from './step-graph.js';

export interface TrainingHyperparameters {
  epochs: number;
  maxSteps?: number;
  lr: number;
  lrSchedule: LrSchedule;
  warmupSteps: number;
  weightDecay: number;
  rank: number;
  alpha: number;
  loraDropout: number;
  targets: LoraTarget[];
  batchSize: number;
  gradAccum: number;
  maxLength: number;
  seed: number;
  maxGradNorm: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Validation every N optimizer steps (0 = only at the end). */
  evalEvery: number;
  /** Stop after this many validations without improvement (0 = never). */
  earlyStoppingPatience: number;
  /** Minutes between checkpoints (one is always written at the end and on cancel). */
  checkpointMinutes: number;
  /** How the frozen base is stored: f32, or f16/int8/int4 to tune larger models in less memory. */
  baseStorage: BaseStorage;
  /** Recompute each layer's activations in the backward pass: far less memory, ~1/3 more compute. */
  recomputeActivations: boolean;
  /** sft (default), or a preference method: the train/validation rows are then pairs (chosen, rejected, ...). */
  method?: TrainMethod;
  /** DPO's beta or ORPO's lambda (default 0.1). */
  beta?: number;
}

export const DEFAULT_HYPERPARAMETERS: TrainingHyperparameters = {
  epochs: 3,
  lr: 2e-4,
  lrSchedule: 'cosine',
  warmupSteps: 10,
  weightDecay: 0,
  rank: 16,
  alpha: 32,
  loraDropout: 0,
  targets: [...LORA_TARGETS],
  batchSize: 4,
  gradAccum: 1,
  maxLength: 512,
  seed: 42,
  maxGradNorm: 1,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  evalEvery: 0,
  earlyStoppingPatience: 0,
  checkpointMinutes: 5,
  baseStorage: 'f32',
  recomputeActivations: false,
};

export type TuneEvent =
  | { type: 'start'; totalSteps: number; stepsPerEpoch: number; trainExamples: number; valExamples: number; device: ResolvedDevice; resumedFromStep: number }
  | { type: 'step'; step: number; totalSteps: number; epoch: number; loss: number; gradNorm: number; lr: number; tokens: number; tokensPerSecond: number; elapsedSeconds: number; etaSeconds: number; rewards?: RewardMetrics }
  | { type: 'eval'; step: number; valLoss: number; best: boolean }
  | { type: 'checkpoint'; step: number; path: string }
  | { type: 'done'; step: number; adapterDir: string; bestStep: number | null; bestValLoss: number | null; stoppedBecause: StopReason };

/** DPO/ORPO step metrics (means over the step's pairs), as in metrics.jsonl. */
export type RewardMetrics = ReturnType<typeof rewardMetrics>;

export type StopReason = 'finished' | 'max-steps' | 'early-stopping' | 'cancelled';

export interface TrainerInput {
  model: LoadedModel;
  runDir: string;
  train: TokenizedExample[];
  validation: TokenizedExample[];
  hp: TrainingHyperparameters;
  device: ResolvedDevice;
  /** Token rows trained alongside LoRA, with their initial values [n, D] (and head rows if untied). */
  trainTokens?: { ids: number[]; embed: Float32Array; head?: Float32Array };
  /** Start from these LoRA factors (an existing adapter) instead of the usual init. */
  initAdapter?: Adapter;
  resume: boolean;
  threads?: number;
  onEvent?: (e: TuneEvent) => void;
  signal?: AbortSignal;
}

export interface TrainerResult {
  adapterDir: string;
  steps: number;
  bestStep: number | null;
  bestValLoss: number | null;
  stoppedBecause: StopReason;
  finalLoss: number | null;
}

export async function train(input: TrainerInput): Promise<TrainerResult> {
  const { model, runDir, hp } = input;
  const cfg = model.config;
  if (input.train.length === 0) throw new AttuneError('tune-no-data', 'There are no training examples left after the validation split.');
  const paths = runPaths(runDir);
  await mkdir(runDir, { recursive: true });

  const trainIds = input.trainTokens?.ids ?? [];
  // Preference methods: rows are interleaved pairs, and a batch holds batchSize pairs.
  const pref = hp.method && hp.method !== 'sft' ? hp.method : undefined;
  const maxTokens = hp.batchSize * hp.maxLength * (pref ? 2 : 1);
  const graphOpts: StepGraphOptions = {
    rank: hp.rank, alpha: hp.alpha, targets: hp.targets, maxTokensPerMicroBatch: maxTokens, trainTokenIds: trainIds,
    beta1: hp.beta1, beta2: hp.beta2, eps: hp.eps, weightDecay: hp.weightDecay, maxGradNorm: hp.maxGradNorm,
    loraDropout: hp.loraDropout, seed: hp.seed, baseStorage: hp.baseStorage ?? 'f32', device: input.device,
    recomputeActivations: hp.recomputeActivations ?? false,
    ...(pref ? { method: pref, beta: hp.beta } : {}),
  };
  const specs = trainableTensors(cfg, graphOpts);
  const shapes = new Map<string, number[]>();
  for (const s of specs) {
    shapes.set(s.name, s.shape);
    shapes.set(`adam.m.${s.name}`, s.shape);
    shapes.set(`adam.v.${s.name}`, s.shape);
  }

  // ---- state: fresh, from an adapter, or from the last checkpoint
  let state: CheckpointState = {
    step: 0, epoch: 0, batchInEpoch: 0, tokensSeen: 0, elapsedSeconds: 0, bestValLoss: null, bestStep: null, evalsWithoutImprovement: 0, lastLoss: null,
  };
  let tensors = initialTensors(input, specs);
  if (input.resume) {
    const ckpt = await loadCheckpoint(runDir);
    if (ckpt) {
      state = ckpt.state;
      tensors = ckpt.tensors;
      for (const s of specs) if (!tensors.has(s.name)) throw new AttuneError('checkpoint-mismatch', `The checkpoint in ${paths.checkpoint} does not match this run's settings (missing ${s.name}).`);
    }
    await truncateMetrics(runDir, state.step);
  }

  // ---- sessions (graphs cached on disk)
  const stepKey = cacheKey({ model: model.fingerprint, graphOpts });
  const build = (opts: StepGraphOptions) => async () => {
    await model.weights.ensureLoaded();
    return buildTrainStepGraph(cfg, model.weights, opts);
  };
  const stepFile = (await cachedGraph('train', stepKey, build(graphOpts))).modelPath;
  const evalOpts = { ...graphOpts, evalOnly: true };
  const evalFile = input.validation.length || pref === 'dpo' ? (await cachedGraph('eval', cacheKey({ model: model.fingerprint, graphOpts: evalOpts }), build(evalOpts))).modelPath : undefined;
  if (input.trainTokens) await model.weights.ensureLoaded();
  const baseTokenRows = input.trainTokens ? baseRows(model, input.trainTokens.ids) : undefined;
  // The graph files hold the frozen weights ORT will load: drop the JavaScript copy first, so the
  // model is never in memory twice.
  model.weights.release();
  const session = await createSession(stepFile, { device: input.device, threads: input.threads, cpuArena: keepCpuArena(cfg) });
  let evalSession: InferenceSession | undefined;
  const evalSessionFor = async () => {
    evalSession ??= await createSession(evalFile!, { device: input.device, threads: input.threads, cpuArena: keepCpuArena(cfg) });
    return evalSession;
  };

  const lengths = pref ? pairLengths(input.train, hp.maxLength) : input.train.map((e) => Math.min(e.ids.length, hp.maxLength));
  const rowsOf = (units: number[]) => (pref ? pairRows(input.train, units) : units.map((i) => input.train[i]));
  const microPerEpoch = Math.ceil(lengths.length / hp.batchSize);
  const stepsPerEpoch = Math.ceil(microPerEpoch / hp.gradAccum);
  const totalSteps = hp.maxSteps ? Math.min(hp.maxSteps, stepsPerEpoch * hp.epochs) : stepsPerEpoch * hp.epochs;
  const padId = 0;
  input.onEvent?.({ type: 'start', totalSteps, stepsPerEpoch, trainExamples: lengths.length, valExamples: input.validation.length, device: input.device, resumedFromStep: state.step });

  // The step graph reads and writes flat vectors (see paramLayout); checkpoints keep names.
  const flat: { params: Float32Array; m: Float32Array; v: Float32Array } = {
    params: packTensors(specs, tensors),
    m: packTensors(specs, tensors, 'adam.m.'),
    v: packTensors(specs, tensors, 'adam.v.'),
  };
  const total = flat.params.length;
  const named = (): Map<string, Float32Array> =>
    new Map([...unpackTensors(specs, flat.params), ...unpackTensors(specs, flat.m, 'adam.m.'), ...unpackTensors(specs, flat.v, 'adam.v.')]);
  const feedState = (apply: boolean, acc: Float32Array): Record<string, Tensor> => ({
    params: floatTensor(flat.params, [total]),
    'adam.m': floatTensor(flat.m, [total]),
    'adam.v': floatTensor(flat.v, [total]),
    acc: floatTensor(acc, [total]),
    apply: floatTensor(Float32Array.of(apply ? 1 : 0), []),
  });

  // DPO: the reference's log-probabilities, once, at the starting point (never a checkpoint's).
  let reference: ReferenceLogps | undefined;
  if (pref === 'dpo') {
    const start = packTensors(specs, initialTensors(input, specs));
    const o = { batchPairs: hp.batchSize, maxLength: hp.maxLength, padId };
    reference = await referenceLogps(runDir, async () => ({
      train: await sequenceLogps(await evalSessionFor(), input.train, start, o),
      validation: await sequenceLogps(await evalSessionFor(), input.validation, start, o),
    }), { train: input.train.length, validation: input.validation.length });
  }

  const evaluate = async (): Promise<number> => {
    const s = await evalSessionFor();
    if (pref) {
      let sum = 0;
      let pairs = 0;
      for (let i = 0; i < input.validation.length / 2; i += hp.batchSize) {
        const idx = Array.from({ length: Math.min(hp.batchSize, input.validation.length / 2 - i) }, (_, k) => i + k);
        const mb = collate(pairRows(input.validation, idx), hp.maxLength, padId);
        const feeds: Record<string, Tensor> = {
          ...batchFeeds(mb), ...paramFeeds(),
          ...preferenceFeeds({ method: pref, pairsInStep: idx.length, chosenTokensInStep: chosenTargetTokens(mb), ref: reference ? refRows(reference.validation, idx) : undefined }),
        };
        const out = await s.run(pick(feeds, s.inputNames));
        sum += (out.loss_sum.data as Float32Array)[0] * idx.length;
        pairs += idx.length;
      }
      return pairs ? sum / pairs : NaN;
    }
    let total = 0;
    let count = 0;
    for (let i = 0; i < input.validation.length; i += hp.batchSize) {
      const mb = collate(input.validation.slice(i, i + hp.batchSize), hp.maxLength, padId);
      if (mb.targetTokens === 0) continue;
      const feeds: Record<string, Tensor> = { ...batchFeeds(mb), ...paramFeeds() };
      const out = await s.run(pick(feeds, s.inputNames));
      total += (out.loss_sum.data as Float32Array)[0];
      count += mb.targetTokens;
    }
    return count ? total / count : NaN;
  };
  const paramFeeds = () => ({ params: floatTensor(flat.params, [total]) });

  const saveBest = async () => {
    await saveTensors(paths.bestTensors, unpackTensors(specs, flat.params), shapes);
  };
  const checkpoint = async () => {
    await saveCheckpoint(runDir, { state, tensors: named() }, shapes);
    input.onEvent?.({ type: 'checkpoint', step: state.step, path: paths.checkpoint });
  };

  let stoppedBecause: StopReason = hp.maxSteps && hp.maxSteps < stepsPerEpoch * hp.epochs ? 'max-steps' : 'finished';
  const startedAt = performance.now();
  const elapsedBefore = state.elapsedSeconds;
  let lastCheckpoint = performance.now();
  let tokensThisRun = 0;
  const stepsAtStart = state.step;

  outer: while (state.step < totalSteps) {
    const order = epochBatches(lengths, hp.batchSize, hp.seed * 1000 + state.epoch);
    while (state.batchInEpoch < order.length && state.step < totalSteps) {
      if (input.signal?.aborted) {
        stoppedBecause = 'cancelled';
        break outer;
      }
      // One optimizer step = up to gradAccum micro-batches.
      const group = order.slice(state.batchInEpoch, state.batchInEpoch + hp.gradAccum);
      const micro = group.map((idx) => collate(rowsOf(idx), hp.maxLength, padId));
      const pairsInStep = pref ? group.reduce((s, idx) => s + idx.length, 0) : 0;
      const chosenTokensInStep = pref ? micro.reduce((s, m) => s + chosenTargetTokens(m), 0) : 0;
      const rewards: number[] = [];
      const targetTokens = micro.reduce((s, m) => s + m.targetTokens, 0);
      const lr = learningRate(state.step + 1, totalSteps, hp.lr, hp.warmupSteps, hp.lrSchedule);
      let acc: Float32Array = new Float32Array(total);
      let lossSum = 0;
      let scored = 0;
      let gradNorm = 0;
      for (let k = 0; k < micro.length; k++) {
        const apply = k === micro.length - 1;
        const feeds: Record<string, Tensor> = {
          ...batchFeeds(micro[k]),
          ...feedState(apply, acc),
          loss_scale: floatTensor(Float32Array.of(targetTokens > 0 ? 1 / targetTokens : 0), []),
          step: floatTensor(Float32Array.of(state.step + 1), []),
          lr: floatTensor(Float32Array.of(lr), []),
          // Micro-batch index within the run: every micro-batch gets its own dropout masks.
          dropout_step: floatTensor(Float32Array.of(state.step * hp.gradAccum + k), []),
          ...(pref ? preferenceFeeds({ method: pref, pairsInStep, chosenTokensInStep, ref: reference ? refRows(reference.train, group[k]) : undefined }) : {}),
        };
        const out = await session.run(pick(feeds, session.inputNames));
        lossSum += (out.loss_sum.data as Float32Array)[0];
        scored += (out.tokens.data as Float32Array)[0];
        acc = out['new.acc'].data as Float32Array;
        if (pref) rewards.push(...(out.rewards.data as Float32Array));
        if (apply) {
          gradNorm = (out.grad_norm.data as Float32Array)[0];
          flat.params = out['new.params'].data as Float32Array;
          flat.m = out['new.adam.m'].data as Float32Array;
          flat.v = out['new.adam.v'].data as Float32Array;
        }
      }
      const tokens = micro.reduce((s, m) => s + m.tokens, 0);
      state.step++;
      state.batchInEpoch += group.length;
      state.tokensSeen += tokens;
      tokensThisRun += tokens;
      // Preference methods: loss_sum is already the step's mean (scaled by pair_scale/loss_scale).
      const loss = pref ? lossSum : scored ? lossSum / scored : NaN;
      const rewardStats = pref ? rewardMetrics(rewards) : undefined;
      state.lastLoss = loss;
      const runSeconds = (performance.now() - startedAt) / 1000;
      state.elapsedSeconds = elapsedBefore + runSeconds;
      const tokensPerSecond = tokensThisRun / Math.max(runSeconds, 1e-9);
      const etaSeconds = ((totalSteps - state.step) * runSeconds) / Math.max(1, state.step - stepsAtStart);
      const epochFloat = state.epoch + state.batchInEpoch / order.length;
      await appendMetrics(runDir, { step: state.step, epoch: round(epochFloat, 4), loss, grad_norm: gradNorm, lr, tokens, tokens_per_second: tokensPerSecond, ...rewardStats });
      input.onEvent?.({ type: 'step', step: state.step, totalSteps, epoch: epochFloat, loss, gradNorm, lr, tokens, tokensPerSecond, elapsedSeconds: state.elapsedSeconds, etaSeconds, ...(rewardStats ? { rewards: rewardStats } : {}) });

      const evalDue = input.validation.length > 0 && hp.evalEvery > 0 && state.step % hp.evalEvery === 0;
      if (evalDue) {
        const valLoss = await evaluate();
        const best = state.bestValLoss === null || valLoss < state.bestValLoss;
        if (best) {
          state.bestValLoss = valLoss;
          state.bestStep = state.step;
          state.evalsWithoutImprovement = 0;
          await saveBest();
        } else state.evalsWithoutImprovement++;
        await appendMetrics(runDir, { step: state.step, val_loss: valLoss });
        input.onEvent?.({ type: 'eval', step: state.step, valLoss, best });
        if (hp.earlyStoppingPatience > 0 && state.evalsWithoutImprovement >= hp.earlyStoppingPatience) {
          stoppedBecause = 'early-stopping';
          break outer;
        }
      }
      if (performance.now() - lastCheckpoint > hp.checkpointMinutes * 60_000) {
        await checkpoint();
        lastCheckpoint = performance.now();
      }
    }
    if (state.batchInEpoch >= order.length) {
      state.epoch++;
      state.batchInEpoch = 0;
    }
  }

  // Final validation when none ran at this step yet.
  if (stoppedBecause !== 'cancelled' && input.validation.length > 0 && (hp.evalEvery === 0 || state.step % hp.evalEvery !== 0)) {
    const valLoss = await evaluate();
    const best = state.bestValLoss === null || valLoss < state.bestValLoss;
    if (best) {
      state.bestValLoss = valLoss;
      state.bestStep = state.step;
      await saveBest();
    }
    await appendMetrics(runDir, { step: state.step, val_loss: valLoss });
    input.onEvent?.({ type: 'eval', step: state.step, valLoss, best });
  }
  await checkpoint();

  // The adapter: the best validated step's parameters when validation ran, else the last.
  const finalParams = state.bestStep !== null && (await exists(paths.bestTensors)) ? await loadTensors(paths.bestTensors) : unpackTensors(specs, flat.params);
  await rm(paths.adapter, { recursive: true, force: true });
  await saveAdapter(paths.adapter, toAdapter(input, finalParams, baseTokenRows), cfg);
  await session.release();
  await evalSession?.release();
  input.onEvent?.({ type: 'done', step: state.step, adapterDir: paths.adapter, bestStep: state.bestStep, bestValLoss: state.bestValLoss, stoppedBecause });
  return { adapterDir: paths.adapter, steps: state.step, bestStep: state.bestStep, bestValLoss: state.bestValLoss, stoppedBecause, finalLoss: state.lastLoss };

  function batchFeeds(mb: MicroBatch): Record<string, Tensor> {
    return {
      input_ids: int64Tensor(mb.inputIds, [mb.batch, mb.seq]),
      targets: int64Tensor(mb.targets, [mb.batch, mb.seq]),
      loss_weight: floatTensor(mb.lossWeight, [mb.batch, mb.seq]),
    };
  }
}

/** LoRA init as PEFT: A ~ kaiming-uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B = 0. */
function initialTensors(input: TrainerInput, specs: { name: string; shape: number[] }[]): Map<string, Float32Array> {
  const random = seededRandom(input.hp.seed);
  const out = new Map<string, Float32Array>();
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    let data = new Float32Array(n);
    const fromAdapter = adapterTensor(input.initAdapter, s.name);
    if (fromAdapter) {
      if (fromAdapter.length !== n) throw new AttuneError('adapter-mismatch', `The starting adapter's ${s.name} has ${fromAdapter.length} values, but this run needs ${n} (different rank or model).`);
      data = Float32Array.from(fromAdapter);
    } else if (s.name === TOKEN_EMBED_PARAM) data = withAdapterRows(input, input.trainTokens!.embed, 'embed');
    else if (s.name === TOKEN_HEAD_PARAM) data = withAdapterRows(input, input.trainTokens!.head!, 'head');
    else if (s.name.endsWith('.A')) {
      const bound = 1 / Math.sqrt(s.shape[1]);
      for (let i = 0; i < n; i++) data[i] = (random() * 2 - 1) * bound;
    }
    out.set(s.name, data);
    out.set(`adam.m.${s.name}`, new Float32Array(n));
    out.set(`adam.v.${s.name}`, new Float32Array(n));
  }
  return out;
}

/** Token rows to start from: the starting adapter's tuned rows where it has them, else `rows`. */
function withAdapterRows(input: TrainerInput, rows: Float32Array, which: 'embed' | 'head'): Float32Array<ArrayBuffer> {
  const out = Float32Array.from(rows);
  const tr = input.initAdapter?.tokenRows;
  const from = tr?.[which];
  if (!tr || !from) return out;
  const D = input.model.config.hidden;
  input.trainTokens!.ids.forEach((id, k) => {
    const j = tr.ids.indexOf(id);
    if (j >= 0) out.set(from.subarray(j * D, (j + 1) * D), k * D);
  });
  return out;
}

function adapterTensor(adapter: Adapter | undefined, name: string): Float32Array | undefined {
  if (!adapter) return undefined;
  const m = /^lora\.blk\.(\d+)\.(\w+)\.(A|B)$/.exec(name);
  if (!m) return undefined;
  const target = LORA_TARGETS.find((t) => loraParamName(Number(m[1]), t, m[3] as 'A' | 'B') === name);
  const f = target ? adapter.factors.get(`blk.${m[1]}.${target}`) : undefined;
  return f ? (m[3] === 'A' ? f.a : f.b) : undefined;
}

function toAdapter(input: TrainerInput, params: Map<string, Float32Array>, base?: { embed: Float32Array; head?: Float32Array }): Adapter {
  const { hp, model } = input;
  const factors = new Map<string, { a: Float32Array; b: Float32Array }>();
  for (let l = 0; l < model.config.layers; l++) {
    for (const t of hp.targets) factors.set(`blk.${l}.${t}`, { a: params.get(loraParamName(l, t, 'A'))!, b: params.get(loraParamName(l, t, 'B'))! });
  }
  const adapter: Adapter = {
    rank: hp.rank, alpha: hp.alpha, dropout: hp.loraDropout, targets: hp.targets, factors,
    template: model.tokenizer.templateName, baseModel: model.path,
  };
  if (input.trainTokens) {
    adapter.tokenRows = {
      ids: input.trainTokens.ids,
      embed: params.get(TOKEN_EMBED_PARAM)!,
      baseEmbed: base!.embed,
      head: params.get(TOKEN_HEAD_PARAM),
      baseHead: base!.head,
    };
  }
  return adapter;
}



function pick(feeds: Record<string, Tensor>, names: readonly string[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const n of names) {
    if (!feeds[n]) throw new Error(`training session needs input ${n}`);
    out[n] = feeds[n];
  }
  return out;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Whether the training sessions keep ORT's CPU arena. Measured (bench/RESULTS.md): on a
 * 1.5B-shaped model (hidden 1536) the arena raised a tune's peak from 8.0 to 11.7 GiB for the
 * same step time, while on a 135M-shaped one (hidden 576) going without it made steps 1.7x
 * slower (fresh pages for every buffer). Wide models spend far more compute per byte allocated.
 */
export function keepCpuArena(cfg: ModelConfig): boolean {
  return cfg.hidden < 1024;
}
