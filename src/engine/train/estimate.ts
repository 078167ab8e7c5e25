/**
 * How long one pass over the person's data takes on this computer with the chosen settings,
 * measured rather than guessed: a calibration of a few real training steps (the same graphs,
 * device and batch shapes as the run), in a throw-away run folder, then stopped.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AttuneError } from '../../shared/errors.js';
import { runTuning, type TuneConfig } from './tune.js';
import { DEFAULT_HYPERPARAMETERS } from './trainer.js';

export interface TuneEstimate {
  /** Steps measured after the first (the first also warms the sessions up). */
  calibrationSteps: number;
  secondsPerStep: number;
  /** Building graphs, loading the model and the first step. */
  setupSeconds: number;
  stepsPerEpoch: number;
  epochs: number;
  trainExamples: number;
  /** One pass over the training examples. */
  epochSeconds: number;
  /** All passes, plus the setup. */
  totalSeconds: number;
  tokensPerSecond: number;
  device: string;
}

export interface EstimateOptions {
  /** Steps timed after the first (default 3). */
  steps?: number;
  signal?: AbortSignal;
  onStep?: (done: number, of: number) => void;
}

export async function estimateTuneTime(config: Omit<TuneConfig, 'out'> & { out?: string }, opts: EstimateOptions = {}): Promise<TuneEstimate> {
  const measured = Math.max(1, opts.steps ?? 3);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'attune-estimate-'));
  const controller = new AbortController();
  opts.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  const t0 = performance.now();
  const stepTimes: number[] = [];
  const tokens: number[] = [];
  let start: { stepsPerEpoch: number; trainExamples: number; device: string } | undefined;
  let cancelledByUser = false;
  try {
    // No checkpoint, evaluation or early stop while timing (100 000 minutes is the most the settings allow).
    await runTuning(
      { ...config, out: path.join(dir, 'run'), checkpointMinutes: 100_000, evalEvery: 0, earlyStopping: false },
      {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'start') start = { stepsPerEpoch: e.stepsPerEpoch, trainExamples: e.trainExamples, device: String(e.device) };
          if (e.type === 'step') {
            stepTimes.push(performance.now());
            tokens.push(e.tokens);
            opts.onStep?.(stepTimes.length, measured + 1);
            if (stepTimes.length >= measured + 1 || e.step >= e.totalSteps) controller.abort();
          }
        },
      },
    );
  } catch (e) {
    cancelledByUser = !!opts.signal?.aborted;
    if (!cancelledByUser) throw e;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  if (cancelledByUser || opts.signal?.aborted) throw new AttuneError('tune.estimate-cancelled');
  if (!start || stepTimes.length < 2) {
    throw new AttuneError('tune.estimate-too-short');
  }
  const n = stepTimes.length - 1;
  const secondsPerStep = (stepTimes[n] - stepTimes[0]) / 1000 / n;
  const setupSeconds = (stepTimes[0] - t0) / 1000;
  const epochs = config.epochs ?? DEFAULT_HYPERPARAMETERS.epochs;
  const epochSeconds = secondsPerStep * start.stepsPerEpoch;
  const tokensMeasured = tokens.slice(1).reduce((a, b) => a + b, 0);
  return {
    calibrationSteps: n,
    secondsPerStep,
    setupSeconds,
    stepsPerEpoch: start.stepsPerEpoch,
    epochs,
    trainExamples: start.trainExamples,
    epochSeconds,
    totalSeconds: setupSeconds + epochSeconds * epochs,
    tokensPerSecond: tokensMeasured / (secondsPerStep * n),
    device: start.device,
  };
}
