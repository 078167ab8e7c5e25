/**
 * Memory-saving storage of the frozen base (f16, int8, int4), expanded where used
 * (`compressedCompute: false`): the graphs compute exactly what an F32 model with the expanded
 * (dequantised) weights computes, for inference logits and for the training step's LoRA gradients
 * (whose input gradients go through the re-expanded weights). The default integer compute on the
 * compressed matrices is tested in compressed-compute.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, type LoadedModel } from '../../../src/engine/models/load.js';
import { ModelWeights } from '../../../src/engine/models/weights.js';
import { BASE_STORAGES, expandedWeights, type BaseStorage } from '../../../src/engine/models/base-storage.js';
import { buildInferenceGraph } from '../../../src/engine/models/inference-graph.js';
import { LORA_TARGETS } from '../../../src/engine/models/lora-targets.js';
import { serializeGraph } from '../../../src/engine/onnx/serialize.js';
import { createSession } from '../../../src/engine/runtime/session.js';
import { buildTrainStepGraph, loraParamName } from '../../../src/engine/train/step-graph.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { forwardLogits, maxAbsDiff } from '../../helpers/engine-run.js';
import { relativeError, STEP_DEFAULTS, stepGradients } from '../../helpers/train-step.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-storage-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const IDS = [1, 40, 300, 22, 401, 9, 77, 2, 5, 6];

/** The same model with every matrix replaced by what `storage` gives back, stored as F32. */
function expandedModel(model: LoadedModel, storage: BaseStorage): LoadedModel {
  const tensors = new Map([...model.weights.tensors].map(([k, t]) => [k, { shape: t.shape, data: expandedWeights(t, storage) }]));
  return { ...model, weights: new ModelWeights(tensors, `${storage} expanded`) };
}

describe('frozen base storage', () => {
  it('every storage but f32 changes the weights a little, int4 the most', async () => {
    const dir = path.join(tmp, 'm');
    writeTinyModel(dir, 'qwen2', { seed: 2, hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96 });
    const model = await loadModel(dir);
    const w = model.weights.get('blk.0.ffn_up.weight');
    const err = (s: BaseStorage) => maxAbsDiff(expandedWeights(w, s), w.data);
    expect(err('f32')).toBe(0);
    expect(err('f16')).toBeGreaterThan(0);
    expect(err('f16')).toBeLessThan(err('int8'));
    expect(err('int8')).toBeLessThan(err('int4'));
  });

  for (const storage of BASE_STORAGES.filter((s) => s !== 'f32')) {
    it(`${storage}: inference logits equal the F32 graph on the expanded weights`, async () => {
      const dir = path.join(tmp, `inf-${storage}`);
      writeTinyModel(dir, 'llama', { seed: 3, hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96 });
      const model = await loadModel(dir);
      const stored = await createSession(serializeGraph(buildInferenceGraph(model.config, model.weights, { lastTokenOnly: false, baseStorage: storage, compressedCompute: false })).model, { threads: 1 });
      const reference = expandedModel(model, storage);
      const plain = await createSession(serializeGraph(buildInferenceGraph(reference.config, reference.weights, { lastTokenOnly: false })).model, { threads: 1 });
      expect(maxAbsDiff(await forwardLogits(stored, model, IDS), await forwardLogits(plain, reference, IDS))).toBeLessThan(1e-4);
    });

    it(`${storage}: training-step gradients equal the F32 step on the expanded weights`, async () => {
      const dir = path.join(tmp, `train-${storage}`);
      writeTinyModel(dir, 'llama', { seed: 4, hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96 });
      const model = await loadModel(dir);
      const params = new Map<string, Float32Array>();
      for (let l = 0; l < 2; l++) {
        for (const t of LORA_TARGETS) {
          const n = (f: 'A' | 'B') => (f === 'A' ? 2 * (t === 'down' ? 96 : t === 'o' ? 64 : 64) : 2 * (t === 'gate' || t === 'up' ? 96 : t === 'k' || t === 'v' ? 32 : 64));
          params.set(loraParamName(l, t, 'A'), Float32Array.from({ length: n('A') }, (_, i) => Math.sin(i + l) * 0.2));
          params.set(loraParamName(l, t, 'B'), Float32Array.from({ length: n('B') }, (_, i) => Math.cos(i * 3 + l) * 0.2));
        }
      }
      const opts = { rank: 2, alpha: 4, targets: [...LORA_TARGETS], maxTokensPerMicroBatch: 32, trainTokenIds: [], ...STEP_DEFAULTS };
      const examples = [{ ids: IDS, lossMask: IDS.map((_, i) => (i > 3 ? 1 : 0)) }];
      const ours = await stepGradients(model, { ...opts, baseStorage: storage, compressedCompute: false }, params, examples);
      const ref = await stepGradients(expandedModel(model, storage), opts, params, examples);
      expect(Math.abs(ours.loss - ref.loss)).toBeLessThan(1e-5);
      for (const [name, g] of ref.grads) expect(relativeError(ours.grads.get(name)!, g), name).toBeLessThan(1e-4);
    });
  }
});

describe('compressed storage survives ONNX Runtime graph optimisation', () => {
  for (const storage of BASE_STORAGES.filter((s) => s !== 'f32')) {
    it(`${storage}: the optimised session still holds the matrices compressed, not folded back to F32`, async () => {
      const dir = path.join(tmp, `opt-${storage}`);
      writeTinyModel(dir, 'llama', { seed: 3, hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96 });
      const model = await loadModel(dir);
      const optimized = path.join(tmp, `opt-${storage}.onnx`);
      const graph = buildInferenceGraph(model.config, model.weights, { lastTokenOnly: false, baseStorage: storage, compressedCompute: false });
      const session = await ort.InferenceSession.create(serializeGraph(graph).model, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized });
      await session.release();
      const inits = onnxProto.onnx.ModelProto.decode(readFileSync(optimized)).graph!.initializer!;
      // A [out, in] projection matrix in F32 would mean ORT folded the expansion at session start.
      const matrices = inits.filter((t) => t.dims!.length === 2 && Number(t.dims![0]) * Number(t.dims![1]) >= 64 * 64);
      expect(matrices.length).toBeGreaterThan(0);
      const F32 = onnxProto.onnx.TensorProto.DataType.FLOAT;
      expect(matrices.filter((t) => t.dataType === F32 && !t.name!.endsWith('.scales')).map((t) => t.name)).toEqual([]);
    });
  }

  for (const storage of BASE_STORAGES.filter((s) => s !== 'f32')) {
    it(`${storage}: the training step expands each weight twice, so no expanded copy lives from forward to backward`, async () => {
      const dir = path.join(tmp, `twice-${storage}`);
      writeTinyModel(dir, 'llama', { seed: 3, hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96 });
      const model = await loadModel(dir);
      const optimized = path.join(tmp, `twice-${storage}.onnx`);
      const graph = buildTrainStepGraph(model.config, model.weights, { rank: 2, alpha: 4, targets: ['q', 'v'], maxTokensPerMicroBatch: 16, trainTokenIds: [], baseStorage: storage, compressedCompute: false, ...STEP_DEFAULTS });
      const session = await ort.InferenceSession.create(serializeGraph(graph).model, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized });
      await session.release();
      const nodes = onnxProto.onnx.ModelProto.decode(readFileSync(optimized)).graph!.node!;
      const expansions = new Map<string, number>();
      for (const n of nodes) {
        if (n.opType !== 'Cast' && n.opType !== 'DequantizeLinear') continue;
        const m = /(blk\.\d+\.\w+\.weight)\./.exec(n.input![0]); // backward copies carry a grad/ scope prefix
        if (m) expansions.set(m[1], (expansions.get(m[1]) ?? 0) + 1);
      }
      // Every projection's input gradient needs its weight again (ORT's common-subexpression pass
      // would otherwise merge the two expansions and keep one alive across the whole step).
      // (Layer 0's q, k, v pass no gradient further down: the embedding is frozen here.)
      expect(expansions.size).toBe(14);
      for (const [name, count] of expansions) expect(count, name).toBe(/^blk\.0\.attn_[qkv]\./.test(name) ? 1 : 2);
    });
  }
});
