/** Runs one micro-batch through Attune's training-step graph and returns loss and gradients. */
import type { LoadedModel } from '../../src/engine/models/load.js';
import { serializeGraph } from '../../src/engine/onnx/serialize.js';
import { createSession, floatTensor, int64Tensor, type Tensor } from '../../src/engine/runtime/session.js';
import { collate, type TokenizedExample } from '../../src/engine/train/batches.js';
import { buildTrainStepGraph, packTensors, trainableTensors, unpackTensors, type StepGraphOptions } from '../../src/engine/train/step-graph.js';

export const STEP_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 };

export interface StepResult {
  loss: number;
  lossSum: number;
  grads: Map<string, Float32Array>;
  targets: number;
  outputs: Record<string, Tensor>;
}

/**
 * A training-step session for `opts`: `run` gives the gradient of the mean masked cross-entropy
 * w.r.t. every trainable tensor (apply = 0 leaves acc = grad) for one micro-batch, as often as
 * asked, in the same session.
 */
export async function openStep(model: LoadedModel, opts: StepGraphOptions) {
  const g = buildTrainStepGraph(model.config, model.weights, opts);
  const session = await createSession(serializeGraph(g).model, { threads: 1 });
  const specs = trainableTensors(model.config, opts);
  const run = async (
    params: Map<string, Float32Array>,
    examples: TokenizedExample[],
    /** Extra inputs (preference methods: pair_scale, ref_logps) and loss_scale overrides. */
    extra: Record<string, Tensor> = {},
  ): Promise<StepResult> => {
    const mb = collate(examples, 1 << 20, 0);
    const feeds: Record<string, Tensor> = {
      input_ids: int64Tensor(mb.inputIds, [mb.batch, mb.seq]),
      targets: int64Tensor(mb.targets, [mb.batch, mb.seq]),
      loss_weight: floatTensor(mb.lossWeight, [mb.batch, mb.seq]),
      loss_scale: floatTensor(Float32Array.of(1 / mb.targetTokens), []),
      step: floatTensor(Float32Array.of(1), []),
      lr: floatTensor(Float32Array.of(0), []),
      apply: floatTensor(Float32Array.of(0), []),
      ...extra,
    };
    if (g.inputs.some((i) => i.name === 'dropout_step')) feeds.dropout_step = floatTensor(Float32Array.of(1), []);
    const flat = packTensors(specs, params);
    feeds.params = floatTensor(flat, [flat.length]);
    for (const p of ['adam.m', 'adam.v', 'acc']) feeds[p] = floatTensor(new Float32Array(flat.length), [flat.length]);
    const out = await session.run(feeds);
    const grads = unpackTensors(specs, out['new.acc'].data as Float32Array);
    const lossSum = (out.loss_sum.data as Float32Array)[0];
    return { loss: lossSum / mb.targetTokens, lossSum, grads, targets: mb.targetTokens, outputs: out as Record<string, Tensor> };
  };
  return { run, release: () => session.release() };
}

/** One micro-batch through a session of its own (see openStep). */
export async function stepGradients(
  model: LoadedModel,
  opts: StepGraphOptions,
  params: Map<string, Float32Array>,
  examples: TokenizedExample[],
  extra: Record<string, Tensor> = {},
): Promise<StepResult> {
  const step = await openStep(model, opts);
  try {
    return await step.run(params, examples, extra);
  } finally {
    await step.release();
  }
}

export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}
