/**
 * The LoRA training step the benches time (bench/train.ts, bench/gpu.ts, bench/base-compare.ts)
 * and its feeds: random ids below REAL_TOKENS with loss on every token, LoRA A kaiming-uniform and
 * B small random, zero optimizer state, all from one seeded generator so that engines, devices and
 * base storages see the same numbers.
 */
import type ort from 'onnxruntime-node';
import { LORA_TARGETS } from '../src/engine/models/lora-targets.js';
import { packTensors, type TrainableTensor } from '../src/engine/train/step-graph.js';
import { floatTensor, int64Tensor } from '../src/engine/runtime/session.js';
import { REAL_TOKENS } from './model.js';

export interface StepFeeds {
  /** Inputs that stay the same every step. */
  fixed: Record<string, ort.Tensor>;
  /** params, adam.m, adam.v, acc: replace each with the step's `new.<name>` output. */
  state: Record<string, ort.Tensor>;
  loraParams: number;
}

export const STATE_NAMES = ['params', 'adam.m', 'adam.v', 'acc'] as const;

/** r16 / alpha 32 on all seven projections, AdamW, gradients clipped at norm 1. */
export const BENCH_LORA = { rank: 16, alpha: 32, maxGradNorm: 1 } as const;

/** The step graph's options for micro-batches of up to `tokens` tokens. */
export function benchStepOptions(tokens: number) {
  return { ...BENCH_LORA, targets: [...LORA_TARGETS], maxTokensPerMicroBatch: tokens, trainTokenIds: [] as number[], beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
}

/** Starting factors drawn from `rand` (A kaiming-uniform, B small), packed, with zero m, v and acc. */
export function initialState(specs: TrainableTensor[], rand: () => number): Record<string, ort.Tensor> {
  const initial = new Map<string, Float32Array>();
  for (const t of specs) {
    const data = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
    const bound = t.name.endsWith('.A') ? 1 / Math.sqrt(t.shape[1]!) : 0.01 * Math.sqrt(3);
    for (let i = 0; i < data.length; i++) data[i] = (2 * rand() - 1) * bound;
    initial.set(t.name, data);
  }
  // The step graph reads all trainable tensors as one flat vector (and the same for m, v, acc).
  const flat = packTensors(specs, initial);
  const state: Record<string, ort.Tensor> = { params: floatTensor(flat, [flat.length]) };
  for (const p of STATE_NAMES.slice(1)) state[p] = floatTensor(new Float32Array(flat.length), [flat.length]);
  return state;
}

export function stepFeeds(specs: TrainableTensor[], batch: number, seq: number, lr: number): StepFeeds {
  let s = 12345;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const n = batch * seq;
  const ids = Array.from({ length: n }, () => 3 + Math.floor(rand() * (REAL_TOKENS - 3)));
  const targets = Array.from({ length: n }, () => 3 + Math.floor(rand() * (REAL_TOKENS - 3)));
  const fixed: Record<string, ort.Tensor> = {
    input_ids: int64Tensor(ids, [batch, seq]),
    targets: int64Tensor(targets, [batch, seq]),
    loss_weight: floatTensor(new Float32Array(n).fill(1), [batch, seq]),
    loss_scale: floatTensor(Float32Array.of(1 / n), []),
    lr: floatTensor(Float32Array.of(lr), []),
    apply: floatTensor(Float32Array.of(1), []),
  };
  const loraParams = specs.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
  return { fixed, state: initialState(specs, rand), loraParams };
}
