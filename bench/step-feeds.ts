/**
 * Feeds of one LoRA training step for the benches (bench/train.ts, bench/gpu.ts): random ids below
 * REAL_TOKENS with loss on every token, LoRA A kaiming-uniform and B small random, zero optimizer
 * state, all from one seeded generator so that engines and devices see the same numbers.
 */
import type ort from 'onnxruntime-node';
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
  const initial = new Map<string, Float32Array>();
  let loraParams = 0;
  for (const t of specs) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    loraParams += size;
    const data = new Float32Array(size);
    const bound = t.name.endsWith('.A') ? 1 / Math.sqrt(t.shape[1]!) : 0.01 * Math.sqrt(3);
    for (let i = 0; i < size; i++) data[i] = (2 * rand() - 1) * bound;
    initial.set(t.name, data);
  }
  // The step graph reads all trainable tensors as one flat vector (and the same for m, v, acc).
  const flat = packTensors(specs, initial);
  const state: Record<string, ort.Tensor> = { params: floatTensor(flat, [flat.length]) };
  for (const p of STATE_NAMES.slice(1)) state[p] = floatTensor(new Float32Array(flat.length), [flat.length]);
  return { fixed, state, loraParams };
}
