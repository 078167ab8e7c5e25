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
import { LORA_TARGETS } from '../models/lora-targets.js';
import { cacheKey, cachedGraph } from '../runtime/cache.js';
import { createSession, floatTensor, int64Tensor, type Tensor } from '../runtime/session.js';
import type { ModelConfig } from '../models/config.js';
import type { ResolvedDevice } from '../runtime/session.js';
import { seededRandom } from '../util/random.js';
import { collate, epochBatches, type MicroBatch, type TokenizedExample } from './batches.js';
import { learningRate } from './schedule.js';
import { scorerFor, type Scorer } from './scorer.js';
import type { TrainingHyperparameters } from './hyperparameters.js';
import {
  appendMetrics, exists, loadCheckpoint, loadTensors, runPaths, saveCheckpoint, saveTensors, truncateMetrics,
  type CheckpointState,
} from './run-dir.js';
import { stepBudget } from './budget.js';
import type { PreferenceMethod } from './losses/preference.js';
import {
  chosenTargetTokens, pairLengths, pairRows, preferenceFeeds, referenceLogps, refRows, rewardMetrics, sequenceLogps, type ReferenceLogps,
} from './preference-run.js';
import {
  buildTrainStepGraph, loraParamName, packTensors, trainableTensors, unpackTensors, TOKEN_EMBED_PARAM, TOKEN_HEAD_PARAM, type StepGraphOptions,
  type TrainableTensor,
} from './step-graph.js';

export { DEFAULT_HYPERPARAMETERS, type TrainingHyperparameters } from './hyperparameters.js';

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
  /**
   * Validate (and compute DPO's reference) through the training session instead of a separate
   * forward-only session, so the frozen base is held once. Default: `shareTrainingSession`.
   */
  validateInTrainingSession?: boolean;
}

export interface TrainerResult {
  adapterDir: string;
  steps: number;
  bestStep: number | null;
  bestValLoss: number | null;
  stoppedBecause: StopReason;
  finalLoss: number | null;
}

/**
 * Runs (or resumes) a tuning run: optimizer steps in the seeded batch order of each epoch, a
 * validation when due (which may stop the run early), a checkpoint every few minutes, then
 * `finish` (last validation, checkpoint, adapter).
 */
export async function train(input: TrainerInput): Promise<TrainerResult> {
  const run = await openRun(input);
  const { state } = run;
  let stoppedBecause = run.plannedStop;
  outer: while (state.step < run.totalSteps) {
    const order = epochBatches(run.lengths, input.hp.batchSize, input.hp.seed * 1000 + state.epoch);
    while (state.batchInEpoch < order.length && state.step < run.totalSteps) {
      if (input.signal?.aborted) {
        stoppedBecause = 'cancelled';
        break outer;
      }
      await step(run, order);
      if (evaluationDue(run) && (await evaluate(run)) === 'stop') {
        stoppedBecause = 'early-stopping';
        break outer;
      }
      if (performance.now() - run.clock.lastCheckpoint > input.hp.checkpointMinutes * 60_000) await checkpoint(run);
    }
    if (state.batchInEpoch >= order.length) {
      state.epoch++;
      state.batchInEpoch = 0;
    }
  }
  return finish(run, stoppedBecause);
}

/** Everything one training run carries from step to step. */
interface TrainingRun {
  input: TrainerInput;
  paths: ReturnType<typeof runPaths>;
  specs: TrainableTensor[];
  /** Shapes of the checkpointed tensors by name (params and both Adam moments). */
  shapes: Map<string, number[]>;
  state: CheckpointState;
  /** The flat vectors the step graph reads and writes (see paramLayout); checkpoints keep names. */
  flat: { params: Float32Array; m: Float32Array; v: Float32Array };
  session: InferenceSession;
  /** What scores validation batches (and DPO's reference): see `scorerFor`. */
  evalSession: () => Promise<Scorer>;
  releaseEvalSession: () => Promise<void>;
  baseTokenRows?: { embed: Float32Array; head?: Float32Array };
  /** Lengths of the batching units: examples, or pairs (their longer row) for preference methods. */
  lengths: number[];
  /** The training rows of some batching units. */
  rowsOf: (units: readonly number[]) => TokenizedExample[];
  /** A preference method (DPO, ORPO): rows are interleaved pairs (chosen, rejected, ...). */
  pref?: PreferenceMethod;
  /** DPO: the reference's summed log-probabilities of every row, computed once at the starting point. */
  reference?: ReferenceLogps;
  totalSteps: number;
  /** Why the run ends when it runs to its last step. */
  plannedStop: StopReason;
  clock: { startedAt: number; elapsedBefore: number; lastCheckpoint: number; tokensThisRun: number; stepsAtStart: number };
}

const PAD_ID = 0;

/** Builds (or finds cached) graphs, opens the sessions, and starts from fresh, adapter or checkpoint state. */
async function openRun(input: TrainerInput): Promise<TrainingRun> {
  const { model, runDir, hp } = input;
  const cfg = model.config;
  if (input.train.length === 0) throw new AttuneError('tune.no-training-data');
  const paths = runPaths(runDir);
  await mkdir(runDir, { recursive: true });

  const graphOpts = stepGraphOptions(input);
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
      for (const s of specs) if (!tensors.has(s.name)) throw new AttuneError('tune.checkpoint-mismatch', { dir: paths.checkpoint, tensor: s.name });
    }
    await truncateMetrics(runDir, state.step);
  }

  // ---- sessions (graphs cached on disk)
  const build = (opts: StepGraphOptions) => async () => {
    await model.weights.ensureLoaded();
    return buildTrainStepGraph(cfg, model.weights, opts);
  };
  const stepFile = (await cachedGraph('train', cacheKey({ model: model.fingerprint, graphOpts }), build(graphOpts))).modelPath;
  const evalOpts = { ...graphOpts, evalOnly: true };
  const pref = preferenceMethod(hp);
  const shared = input.validateInTrainingSession ?? shareTrainingSession(cfg, hp);
  const evalFile = !shared && (input.validation.length || pref === 'dpo') ? (await cachedGraph('eval', cacheKey({ model: model.fingerprint, graphOpts: evalOpts }), build(evalOpts))).modelPath : undefined;
  if (input.trainTokens) await model.weights.ensureLoaded();
  const baseTokenRows = input.trainTokens ? baseRows(model, input.trainTokens.ids) : undefined;
  // The graph files hold the frozen weights ORT will load: drop the JavaScript copy first, so the
  // model is never in memory twice.
  const ggufBlocks = multipliesGgufBlocks(model, graphOpts);
  model.weights.release();
  const sessionOpts = { device: input.device, threads: input.threads, cpuArena: keepCpuArena(cfg), prepack: prepackWeights(hp.baseStorage ?? 'f32') || ggufBlocks };
  const session = await createSession(stepFile, sessionOpts);
  let evalSession: InferenceSession | undefined;
  const evalSessionFor = async (): Promise<Scorer> => (shared ? scorerFor(session) : (evalSession ??= await createSession(evalFile!, sessionOpts)));

  // DPO: the reference's log-probabilities, once, at the starting point (never a checkpoint's),
  // saved with the run so that a resumed run uses the very same constants.
  let reference: ReferenceLogps | undefined;
  if (pref === 'dpo') {
    const start = packTensors(specs, initialTensors(input, specs));
    const o = { batchPairs: hp.batchSize, maxLength: hp.maxLength, padId: PAD_ID };
    reference = await referenceLogps(runDir, async () => ({
      train: await sequenceLogps(await evalSessionFor(), input.train, start, o),
      validation: await sequenceLogps(await evalSessionFor(), input.validation, start, o),
    }), { train: input.train.length, validation: input.validation.length });
  }

  // Preference methods batch pairs: a batch holds batchSize pairs.
  const lengths = pref ? pairLengths(input.train, hp.maxLength) : input.train.map((e) => Math.min(e.ids.length, hp.maxLength));
  const { stepsPerEpoch, totalSteps, plannedStop } = stepPlan(hp, lengths.length);
  input.onEvent?.({ type: 'start', totalSteps, stepsPerEpoch, trainExamples: lengths.length, valExamples: input.validation.length, device: input.device, resumedFromStep: state.step });
  const now = performance.now();
  return {
    input, paths, specs, shapes, state, baseTokenRows, session, totalSteps,
    flat: { params: packTensors(specs, tensors), m: packTensors(specs, tensors, 'adam.m.'), v: packTensors(specs, tensors, 'adam.v.') },
    evalSession: evalSessionFor,
    releaseEvalSession: async () => evalSession?.release(),
    lengths,
    rowsOf: (units) => (pref ? pairRows(input.train, units) : units.map((i) => input.train[i])),
    pref,
    reference,
    plannedStop,
    clock: { startedAt: now, elapsedBefore: state.elapsedSeconds, lastCheckpoint: now, tokensThisRun: 0, stepsAtStart: state.step },
  };
}

/** How many optimizer steps the run takes, and which limit ends it when it runs to the end. */
function stepPlan(hp: TrainingHyperparameters, trainExamples: number): { stepsPerEpoch: number; totalSteps: number; plannedStop: StopReason } {
  const microPerEpoch = Math.ceil(trainExamples / hp.batchSize);
  const stepsPerEpoch = Math.ceil(microPerEpoch / hp.gradAccum);
  const budget = stepBudget(hp, stepsPerEpoch); // a given maxSteps overrides the passes
  return { stepsPerEpoch, totalSteps: budget.totalSteps, plannedStop: budget.endsBy };
}

/** The preference method of a run, or undefined for instruction tuning. */
function preferenceMethod(hp: TrainingHyperparameters): PreferenceMethod | undefined {
  return hp.method !== 'sft' ? hp.method : undefined;
}

function stepGraphOptions(input: TrainerInput): StepGraphOptions {
  const { hp } = input;
  const pref = preferenceMethod(hp);
  return {
    ...(pref ? { method: pref, beta: hp.beta } : {}),
    ...(pref === 'dpo' && hp.rpoAlpha ? { rpoAlpha: hp.rpoAlpha } : {}),
    // Preference methods: a micro-batch holds batchSize pairs, two rows each.
    rank: hp.rank, alpha: hp.alpha, targets: hp.targets, maxTokensPerMicroBatch: hp.batchSize * hp.maxLength * (pref ? 2 : 1), trainTokenIds: input.trainTokens?.ids ?? [],
    beta1: hp.beta1, beta2: hp.beta2, eps: hp.eps, weightDecay: hp.weightDecay, maxGradNorm: hp.maxGradNorm,
    loraDropout: hp.loraDropout, seed: hp.seed, baseStorage: hp.baseStorage ?? 'f32', device: input.device,
    recomputeActivations: hp.recomputeActivations ?? false,
    // Integer kernels on the compressed base are faster but hold more (int8: Q and its transpose;
    // int4: blocks plus an int8 copy, packed again by ORT). Their memory on big models is not
    // measured yet (the 3B run that peaked at 20.2 GiB also had an F32 copy kept alive by a
    // closure, since fixed in base-storage.ts), so wide models and the memory-saving mode keep
    // the expanding path, where memory is the point; narrow models (the 135M class) take the fast one.
    ...(!keepCpuArena(input.model.config) || hp.recomputeActivations ? { compressedCompute: false } : {}),
  };
}

/**
 * Whether validation runs through the training session (one copy of the frozen base in memory)
 * rather than a forward-only session of its own (a second copy, but a third of the compute per
 * batch: no backward). Wide models and the memory-saving mode share: there the second copy set
 * the whole run's peak (bench/RESULTS.md); small models keep the faster separate session.
 */
export function shareTrainingSession(cfg: ModelConfig, hp: { recomputeActivations?: boolean }): boolean {
  return !keepCpuArena(cfg) || (hp.recomputeActivations ?? false);
}

/**
 * One optimizer step: up to gradAccum micro-batches from `order` through the step session (the
 * last one applies clipping and AdamW), then the step's metrics line and event.
 */
async function step(run: TrainingRun, order: number[][]): Promise<void> {
  const { input, state, flat, clock } = run;
  const { hp } = input;
  const group = order.slice(state.batchInEpoch, state.batchInEpoch + hp.gradAccum);
  const micro = group.map((idx) => collate(run.rowsOf(idx), hp.maxLength, PAD_ID));
  const { pref, reference } = run;
  const pairsInStep = pref ? group.reduce((s, idx) => s + idx.length, 0) : 0;
  const chosenTokensInStep = pref ? micro.reduce((s, m) => s + chosenTargetTokens(m), 0) : 0;
  const rewards: number[] = [];
  const targetTokens = micro.reduce((s, m) => s + m.targetTokens, 0);
  const lr = learningRate(state.step + 1, run.totalSteps, hp.learningRate, hp.warmupSteps, hp.lrSchedule);
  const total = flat.params.length;
  let acc: Float32Array = new Float32Array(total);
  let lossSum = 0;
  let scored = 0;
  let gradNorm = 0;
  for (let k = 0; k < micro.length; k++) {
    const apply = k === micro.length - 1;
    const feeds: Record<string, Tensor> = {
      ...batchFeeds(micro[k]),
      params: floatTensor(flat.params, [total]),
      'adam.m': floatTensor(flat.m, [total]),
      'adam.v': floatTensor(flat.v, [total]),
      acc: floatTensor(acc, [total]),
      apply: floatTensor(Float32Array.of(apply ? 1 : 0), []),
      loss_scale: floatTensor(Float32Array.of(targetTokens > 0 ? 1 / targetTokens : 0), []),
      step: floatTensor(Float32Array.of(state.step + 1), []),
      lr: floatTensor(Float32Array.of(lr), []),
      // Micro-batch index within the run: every micro-batch gets its own dropout masks.
      dropout_step: floatTensor(Float32Array.of(state.step * hp.gradAccum + k), []),
      // Preference methods: the head's inputs (these override loss_scale).
      ...(pref ? preferenceFeeds({ method: pref, pairsInStep, chosenTokensInStep, ref: reference ? refRows(reference.train, group[k]) : undefined }) : {}),
    };
    const out = await run.session.run(pick(feeds, run.session.inputNames));
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
  clock.tokensThisRun += tokens;
  // Preference methods: loss_sum is already the step's mean (scaled by pair_scale/loss_scale).
  const loss = pref ? lossSum : scored ? lossSum / scored : NaN;
  const rewardStats = pref ? rewardMetrics(rewards) : undefined;
  state.lastLoss = loss;
  const runSeconds = (performance.now() - clock.startedAt) / 1000;
  state.elapsedSeconds = clock.elapsedBefore + runSeconds;
  const tokensPerSecond = clock.tokensThisRun / Math.max(runSeconds, 1e-9);
  const etaSeconds = ((run.totalSteps - state.step) * runSeconds) / Math.max(1, state.step - clock.stepsAtStart);
  const epochFloat = state.epoch + state.batchInEpoch / order.length;
  await appendMetrics(input.runDir, { step: state.step, epoch: round(epochFloat, 4), loss, grad_norm: gradNorm, lr, tokens, tokens_per_second: tokensPerSecond, ...rewardStats });
  input.onEvent?.({ type: 'step', step: state.step, totalSteps: run.totalSteps, epoch: epochFloat, loss, gradNorm, lr, tokens, tokensPerSecond, elapsedSeconds: state.elapsedSeconds, etaSeconds, ...(rewardStats ? { rewards: rewardStats } : {}) });
}

/** Validation every evalEvery steps (when there is validation data). */
function evaluationDue(run: TrainingRun): boolean {
  const { hp, validation } = run.input;
  return validation.length > 0 && hp.evalEvery > 0 && run.state.step % hp.evalEvery === 0;
}

/**
 * Validation loss of the current parameters; keeps the best step's parameters, writes the
 * metrics line and event, and says 'stop' once early stopping's patience is used up.
 */
async function evaluate(run: TrainingRun): Promise<'stop' | 'continue'> {
  const { input, state } = run;
  const valLoss = await validationLoss(run);
  const best = state.bestValLoss === null || valLoss < state.bestValLoss;
  if (best) {
    state.bestValLoss = valLoss;
    state.bestStep = state.step;
    state.evalsWithoutImprovement = 0;
    await saveTensors(run.paths.bestTensors, unpackTensors(run.specs, run.flat.params), run.shapes);
  } else state.evalsWithoutImprovement++;
  await appendMetrics(input.runDir, { step: state.step, val_loss: valLoss });
  input.onEvent?.({ type: 'eval', step: state.step, valLoss, best });
  return input.hp.earlyStopping && state.evalsWithoutImprovement >= input.hp.patience ? 'stop' : 'continue';
}

/**
 * Mean loss over the validation examples' response tokens (eval graph: forward and loss only);
 * for preference methods, the mean of the pairs' losses.
 */
async function validationLoss(run: TrainingRun): Promise<number> {
  const { hp, validation } = run.input;
  const s = await run.evalSession();
  const { pref, reference } = run;
  if (pref) {
    let sum = 0;
    let pairs = 0;
    for (let i = 0; i < validation.length / 2; i += hp.batchSize) {
      const idx = Array.from({ length: Math.min(hp.batchSize, validation.length / 2 - i) }, (_, k) => i + k);
      const mb = collate(pairRows(validation, idx), hp.maxLength, PAD_ID);
      const feeds: Record<string, Tensor> = {
        ...batchFeeds(mb), params: floatTensor(run.flat.params, [run.flat.params.length]),
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
  for (let i = 0; i < validation.length; i += hp.batchSize) {
    const mb = collate(validation.slice(i, i + hp.batchSize), hp.maxLength, PAD_ID);
    if (mb.targetTokens === 0) continue;
    const feeds: Record<string, Tensor> = { ...batchFeeds(mb), params: floatTensor(run.flat.params, [run.flat.params.length]) };
    const out = await s.run(pick(feeds, s.inputNames));
    total += (out.loss_sum.data as Float32Array)[0];
    count += mb.targetTokens;
  }
  return count ? total / count : NaN;
}

/** Writes the checkpoint (state, parameters and moments by name), atomically. */
async function checkpoint(run: TrainingRun): Promise<void> {
  const { specs, flat, state } = run;
  const tensors = new Map([...unpackTensors(specs, flat.params), ...unpackTensors(specs, flat.m, 'adam.m.'), ...unpackTensors(specs, flat.v, 'adam.v.')]);
  await saveCheckpoint(run.input.runDir, { state, tensors }, run.shapes);
  run.input.onEvent?.({ type: 'checkpoint', step: state.step, path: run.paths.checkpoint });
  run.clock.lastCheckpoint = performance.now();
}

/**
 * The end of a run: a last validation when none ran at this step (not after a cancel), the final
 * checkpoint, and the adapter: the best validated step's parameters when validation ran, else the
 * last ones.
 */
async function finish(run: TrainingRun, stoppedBecause: StopReason): Promise<TrainerResult> {
  const { input, state, paths } = run;
  const { hp } = input;
  if (stoppedBecause !== 'cancelled' && input.validation.length > 0 && (hp.evalEvery === 0 || state.step % hp.evalEvery !== 0)) await evaluate(run);
  await checkpoint(run);
  const finalParams = state.bestStep !== null && (await exists(paths.bestTensors)) ? await loadTensors(paths.bestTensors) : unpackTensors(run.specs, run.flat.params);
  await rm(paths.adapter, { recursive: true, force: true });
  await saveAdapter(paths.adapter, toAdapter(input, finalParams, run.baseTokenRows), input.model.config);
  await run.session.release();
  await run.releaseEvalSession();
  input.onEvent?.({ type: 'done', step: state.step, adapterDir: paths.adapter, bestStep: state.bestStep, bestValLoss: state.bestValLoss, stoppedBecause });
  return { adapterDir: paths.adapter, steps: state.step, bestStep: state.bestStep, bestValLoss: state.bestValLoss, stoppedBecause, finalLoss: state.lastLoss };
}

function batchFeeds(mb: MicroBatch): Record<string, Tensor> {
  return {
    input_ids: int64Tensor(mb.inputIds, [mb.batch, mb.seq]),
    targets: int64Tensor(mb.targets, [mb.batch, mb.seq]),
    loss_weight: floatTensor(mb.lossWeight, [mb.batch, mb.seq]),
  };
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
      if (fromAdapter.length !== n) throw new AttuneError('adapter.size-mismatch', { tensor: s.name, have: fromAdapter.length, need: n });
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
 * Whether the training sessions let kernels repack constant weights at start. An F32 base: no;
 * the step's products over thousands of rows pack on the fly at little cost, and prepacking made
 * the start far slower and bigger (session.ts `prepack`). Compressed bases: yes; kernels that
 * compute from compressed weights (MatMulNBits) work from their packed form.
 */
export function prepackWeights(storage: string): boolean {
  return storage !== 'f32' && storage !== 'f16';
}

/**
 * Whether a step graph multiplies a GGUF base's blocks as the file stores them (step-graph.ts:
 * the default storage, compressed compute on the CPU): those sessions prepack, as for an int4
 * base (prepackWeights). Unpacked, MatMulNBits repacks on every run: 512-row products on a
 * 1536x1536 Q4_K / Q6_K matrix took 18 / 16 ms instead of 12 / 10-12 (ORT 1.30, 1 thread).
 */
function multipliesGgufBlocks(model: { source: string; weights: { loaded: boolean; tensors: Map<string, { gguf?: unknown }> } }, opts: StepGraphOptions): boolean {
  if (model.source !== 'gguf' || (opts.baseStorage ?? 'f32') !== 'f32' || opts.compressedCompute === false || (opts.device ?? 'cpu') !== 'cpu') return false;
  return model.weights.loaded && [...model.weights.tensors.values()].some((t) => t.gguf);
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
