/**
 * The ONNX inference graph against the independent float64 reference forward
 * (tests/helpers/reference-forward.ts), on tiny random models of every architecture written as
 * real Hugging Face folders.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/engine/models/load.js';
import { ARCHITECTURES } from '../../../src/engine/models/architectures.js';
import { buildInferenceGraph, PAST_LENGTH_INPUT } from '../../../src/engine/models/inference-graph.js';
import { LORA_TARGETS, type LoraTarget } from '../../../src/engine/models/lora-targets.js';
import { writeTinyModel, type TinyModelOptions } from '../../helpers/tiny-model.js';
import { referenceForward, makeRandomLora, loraModulePath } from '../../helpers/reference-forward.js';
import { allLogitsSession, cachedLogits, forwardLogits, loraFeeds, maxAbsDiff, type TestLora } from '../../helpers/engine-run.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-infer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const IDS = [1, 37, 300, 12, 450, 77, 5, 260, 301, 99, 511, 3];

type Case = { label: string; arch: 'llama' | 'mistral' | 'qwen2' | 'qwen3'; opts?: TinyModelOptions };
const CASES: Case[] = [
  { label: 'llama (GQA, untied)', arch: 'llama' },
  { label: 'llama tied + llama3 rope scaling', arch: 'llama', opts: { tie: true, ropeScaling: 'llama3' } },
  { label: 'llama F16, sharded', arch: 'llama', opts: { dtype: 'F16', sharded: true } },
  { label: 'mistral', arch: 'mistral' },
  { label: 'qwen2 (qkv bias, tied)', arch: 'qwen2' },
  { label: 'qwen2 BF16', arch: 'qwen2', opts: { dtype: 'BF16' } },
  { label: 'qwen3 (q/k norm, head_dim != hidden/heads)', arch: 'qwen3' },
  { label: 'qwen3 one KV head, untied', arch: 'qwen3', opts: { kvHeads: 1, tie: false } },
  // head_dim 16: the inference graph takes the fused layers (cache buffers read in place; see decoder.ts).
  { label: 'llama head_dim 16 + llama3 rope (fused layers)', arch: 'llama', opts: { headDim: 16, ropeScaling: 'llama3' } },
  { label: 'qwen2 head_dim 16, qkv bias (fused layers)', arch: 'qwen2', opts: { headDim: 16, heads: 4, kvHeads: 2 } },
  { label: 'qwen3 head_dim 16, q/k norm, one KV head (fused layers)', arch: 'qwen3', opts: { headDim: 16, heads: 4, kvHeads: 1 } },
];

describe('inference graph vs the reference forward', () => {
  it('covers every architecture in the table', () => {
    expect(new Set(CASES.map((c) => c.arch))).toEqual(new Set(ARCHITECTURES.map((a) => a.name)));
  });

  for (const c of CASES) {
    it(`${c.label}: logits within 1e-4, and prefill+decode equals the full forward`, async () => {
      const dir = path.join(tmp, c.label.replace(/\W+/g, '_'));
      writeTinyModel(dir, c.arch, { seed: 7, ...c.opts });
      const model = await loadModel(dir);
      const session = await allLogitsSession(model);
      const ours = await forwardLogits(session, model, IDS);
      const ref = referenceForward(dir, IDS);
      expect(maxAbsDiff(ours, ref)).toBeLessThan(1e-4);
      const cached = await cachedLogits(session, model, IDS, 5);
      expect(maxAbsDiff(cached, ours)).toBeLessThan(1e-5);
      // Runs of several new positions over a filled cache (queries see the cache and each other causally).
      expect(maxAbsDiff(await cachedLogits(session, model, IDS, [4, 3, 1, 4]), ours)).toBeLessThan(1e-5);
      await session.release();
    });
  }
});

describe('LoRA slots in the inference graph', () => {
  // head_dim 16 takes the fused layers, where q/k/v, gate/up and their adapters are
  // stacked; the adapter on some projections only leaves zero blocks in the stacked factors.
  const loraCases: { label: string; arch: 'llama' | 'qwen2'; opts?: TinyModelOptions; targets: LoraTarget[] }[] = [
    { label: 'every projection', arch: 'qwen2', targets: [...LORA_TARGETS] },
    { label: 'every projection, fused layers (q/k/v stacked), qkv bias', arch: 'qwen2', opts: { headDim: 16, heads: 4, kvHeads: 2 }, targets: [...LORA_TARGETS] },
    { label: 'q, v, up and down only, fused layers', arch: 'llama', opts: { headDim: 16 }, targets: ['q', 'v', 'up', 'down'] },
  ];
  for (const c of loraCases) {
    it(`${c.label}: tuned matches the reference with W + (alpha/r) B A (whole prompt and cached), base is the base model`, async () => {
      const dir = path.join(tmp, `lora-${c.label.replace(/\W+/g, '_')}`);
      writeTinyModel(dir, c.arch, { seed: 3, ...c.opts });
      const model = await loadModel(dir);
      const rank = 2;
      const alpha = 4;
      const ref = makeRandomLora(dir, { rank, alpha, targets: c.targets, seed: 11, stdB: 0.05 });
      const factors = new Map<string, { a: Float32Array; b: Float32Array }>();
      for (let l = 0; l < model.config.layers; l++) {
        for (const t of c.targets) {
          const key = loraModulePath(l, t);
          factors.set(`blk.${l}.${t}`, { a: Float32Array.from(ref.A.get(key)!), b: Float32Array.from(ref.B.get(key)!) });
        }
      }
      const lora: TestLora = { rank, alpha, targets: c.targets, factors };
      const session = await allLogitsSession(model, lora);
      const tuned = await forwardLogits(session, model, IDS, loraFeeds(session, model, lora, 1));
      const base = await forwardLogits(session, model, IDS, loraFeeds(session, model, lora, 0));
      expect(maxAbsDiff(tuned, referenceForward(dir, IDS, { lora: ref }))).toBeLessThan(1e-4);
      expect(maxAbsDiff(base, referenceForward(dir, IDS))).toBeLessThan(1e-4);
      expect(maxAbsDiff(tuned, base)).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(await cachedLogits(session, model, IDS, 5, loraFeeds(session, model, lora, 1)), tuned)).toBeLessThan(1e-5);
      const stacked = session.inputNames.some((n) => n.endsWith('attn_qkv.A'));
      expect(stacked).toBe((c.opts?.headDim ?? 0) % 16 === 0 && c.opts?.headDim !== undefined);
      await session.release();
    });
  }
});

describe('fused inference ops', () => {
  it('read the cache buffers with their own attention when head_dim is a multiple of 16, the general path otherwise', async () => {
    const ops = async (headDim: number) => {
      const dir = path.join(tmp, `ops-${headDim}`);
      writeTinyModel(dir, 'llama', { seed: 1, headDim });
      const model = await loadModel(dir);
      const graph = buildInferenceGraph(model.config, model.weights, { lastTokenOnly: true });
      const count = (op: string) => graph.nodes.filter((n) => n.op === op).length;
      const producers = graph.outputs.filter((o) => o.name.startsWith('present.')).map((o) => graph.nodes.find((n) => n.outputs.includes(o.name))?.op);
      return { ops: new Set(graph.nodes.map((n) => n.op)), inputs: graph.inputs, layers: model.config.layers, count, producers };
    };
    const fused = await ops(16);
    // Cached keys are only read (no GroupQueryAttention copying them into a present buffer).
    expect(fused.ops.has('GroupQueryAttention')).toBe(false);
    expect(fused.ops.has('FusedMatMul')).toBe(true);
    // Position-major cache, read through FusedMatMul's strides: two Transposes a layer (the
    // queries and the context, none for keys or values), and the new keys and values come out
    // under their output names (no Identity).
    expect(fused.inputs.find((i) => i.name === 'past.0.key')?.shape).toEqual(['fed', 1, 2, 16]);
    expect(fused.count('Transpose')).toBe(2 * fused.layers);
    expect(fused.producers).toEqual(Array(2 * fused.layers).fill('Reshape'));
    expect(fused.ops.has('SkipSimplifiedLayerNormalization')).toBe(true);
    expect(fused.inputs.map((i) => i.name)).toContain(PAST_LENGTH_INPUT);
    const general = await ops(8);
    expect(general.ops.has('FusedMatMul')).toBe(false);
    expect(general.ops.has('RotaryEmbedding')).toBe(true);
    expect(general.ops.has('SimplifiedLayerNormalization')).toBe(true);
    expect(general.inputs.map((i) => i.name)).not.toContain(PAST_LENGTH_INPUT);
  });
});
