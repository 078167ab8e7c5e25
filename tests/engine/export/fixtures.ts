/** Adapters for the export and serve tests: a real one trained on stories260K, and random ones. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { saveAdapter, type Adapter } from '../../../src/engine/adapter/adapter.js';
import { adapterFeeds } from '../../../src/engine/generate/generator.js';
import { baseRows } from '../../../src/engine/generate/chat-session.js';
import { projectionShape, LORA_TARGETS, type LoraTarget } from '../../../src/engine/models/lora-targets.js';
import { buildInferenceGraph } from '../../../src/engine/models/inference-graph.js';
import type { LoadedModel } from '../../../src/engine/models/load.js';
import { serializeGraph } from '../../../src/engine/onnx/serialize.js';
import { createSession } from '../../../src/engine/runtime/session.js';
import { runTuning } from '../../../src/engine/train/tune.js';
import { forwardLogits } from '../../helpers/engine-run.js';
import { writeInstructionJsonl } from '../../helpers/instruction-data.js';
import { Rng } from '../../helpers/prng.js';
import { dequantize, quantize } from '../../../src/engine/weights/quants.js';
import { STORIES260K_HF_DIR } from '../../helpers/tiny-model.js';

export const tempDir = (prefix = 'attune-export-'): string => mkdtempSync(path.join(os.tmpdir(), prefix));

/** Tunes stories260K for a few seconds (the held-out-instruction style of tests/helpers/instruction-data.ts). */
export async function trainStoriesAdapter(dir: string): Promise<string> {
  process.env.ATTUNE_CACHE_DIR ??= path.join(dir, 'cache');
  const data = path.join(dir, 'train.jsonl');
  writeInstructionJsonl(data);
  const r = await runTuning({ model: STORIES260K_HF_DIR, data, out: path.join(dir, 'run'), epochs: 4, learningRate: 3e-3, rank: 8, batchSize: 8, seed: 1, threads: 2, valFraction: 0 });
  return r.adapterDir;
}

/**
 * A random adapter on every projection, large enough to move the logits clearly, with trained
 * rows for `tokenRows` ids (and the head rows of untied models).
 */
export function randomAdapter(model: LoadedModel, o: { seed?: number; rank?: number; template?: string; tokenRows?: number[]; targets?: LoraTarget[] } = {}): Adapter {
  const rng = new Rng(o.seed ?? 7);
  const rank = o.rank ?? 4;
  const targets = o.targets ?? [...LORA_TARGETS];
  const cfg = model.config;
  const rand = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.normal() * scale);
  const factors = new Map<string, { a: Float32Array; b: Float32Array }>();
  for (let l = 0; l < cfg.layers; l++) {
    for (const t of targets) {
      const [out, inp] = projectionShape(cfg, t);
      factors.set(`blk.${l}.${t}`, { a: rand(rank * inp, 1 / Math.sqrt(inp)), b: rand(out * rank, 0.05) });
    }
  }
  const adapter: Adapter = { rank, alpha: 2 * rank, dropout: 0, targets, factors, template: o.template, baseModel: model.path };
  if (o.tokenRows?.length) {
    const ids = o.tokenRows;
    const base = baseRows(model, ids);
    adapter.tokenRows = {
      ids,
      embed: base.embed.map((x) => x + rng.normal() * 0.5),
      baseEmbed: base.embed,
      head: base.head?.map((x) => x + rng.normal() * 0.5),
      baseHead: base.head,
    };
  }
  return adapter;
}

export async function saveRandomAdapter(dir: string, model: LoadedModel, o: Parameters<typeof randomAdapter>[1] = {}): Promise<Adapter> {
  const a = randomAdapter(model, o);
  await saveAdapter(dir, a, model.config);
  return a;
}

/** Logits [T, V] of base + adapter through the inference graph's LoRA slots (no merge). */
export async function adapterLogits(model: LoadedModel, adapter: Adapter, ids: number[]): Promise<Float32Array> {
  const g = buildInferenceGraph(model.config, model.weights, {
    lastTokenOnly: false,
    lora: { rank: adapter.rank, targets: adapter.targets },
    tokenRows: adapter.tokenRows?.ids,
  });
  const session = await createSession(serializeGraph(g).model, { threads: 1 });
  try {
    return await forwardLogits(session, model, ids, adapterFeeds(session.inputNames, model.config, adapter, 1));
  } finally {
    await session.release();
  }
}

/**
 * base + adapter merged by hand (independently of src/engine/export), optionally passed through a
 * GGUF type's quantizer the way writeGgufModel stores it (matrices whose rows are whole blocks
 * get `type`, the others F16; 1-D tensors stay F32): the model an export should load back as.
 */
export function mergedTwin(model: LoadedModel, adapter: Adapter, type?: 'F32' | 'F16' | 'Q8_0' | 'Q4_0'): LoadedModel {
  const tensors = new Map([...model.weights.tensors].map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data) }]));
  const mods = { q: 'attn_q', k: 'attn_k', v: 'attn_v', o: 'attn_output', gate: 'ffn_gate', up: 'ffn_up', down: 'ffn_down' } as const;
  const s = adapter.alpha / adapter.rank;
  for (const [key, f] of adapter.factors) {
    const [, layer, target] = key.split('.');
    const w = tensors.get(`blk.${layer}.${mods[target as keyof typeof mods]}.weight`)!;
    const [out, inp] = w.shape as [number, number];
    for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) {
      let acc = 0;
      for (let r = 0; r < adapter.rank; r++) acc += f.b[o * adapter.rank + r]! * f.a[r * inp + i]!;
      w.data[o * inp + i] += s * acc;
    }
  }
  const D = model.config.hidden;
  const rows = adapter.tokenRows;
  if (rows) {
    rows.ids.forEach((id, k) => tensors.get('token_embd.weight')!.data.set(rows.embed.subarray(k * D, (k + 1) * D), id * D));
    if (rows.head && tensors.has('output.weight')) rows.ids.forEach((id, k) => tensors.get('output.weight')!.data.set(rows.head!.subarray(k * D, (k + 1) * D), id * D));
  }
  if (type && type !== 'F32') {
    for (const t of tensors.values()) {
      if (t.shape.length < 2) continue;
      const block = type === 'F16' ? 1 : 32;
      const ty = t.shape[1]! % block ? 'F16' : type;
      t.data = Float32Array.from(dequantize(ty, quantize(ty, t.data), t.data.length));
    }
  }
  const weights = new (model.weights.constructor as new (t: typeof tensors, s: string) => typeof model.weights)(tensors, 'merged twin');
  return { ...model, weights };
}

/** Share of positions whose top token agrees, logits [T, V]. */
export function argmaxAgreement(a: Float32Array, b: Float32Array, vocab: number): number {
  const argmax = (x: Float32Array, t: number) => {
    let best = 0;
    for (let v = 1; v < vocab; v++) if (x[t * vocab + v]! > x[t * vocab + best]!) best = v;
    return best;
  };
  const T = a.length / vocab;
  let same = 0;
  for (let t = 0; t < T; t++) if (argmax(a, t) === argmax(b, t)) same++;
  return same / T;
}
