/**
 * Frozen F32 weights of a Hugging Face folder read one tensor at a time go into a graph's file as
 * it is written (deferred initializers): the graph holds none of their values while it is built,
 * and the files are byte for byte those built from the weights in memory, for F32, F16 and BF16
 * checkpoints (sharded too), training and inference graphs (q/k/v and gate/up stacked, with
 * biases), F32 and int8 storage.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/engine/models/load.js';
import { buildInferenceGraph } from '../../../src/engine/models/inference-graph.js';
import { writeModelDir } from '../../../src/engine/onnx/serialize.js';
import type { GraphBuilder } from '../../../src/engine/onnx/builder.js';
import { buildTrainStepGraph } from '../../../src/engine/train/step-graph.js';
import { readSafetensorsHeader, readTensorAt, readTensorF32Into, tensorToFloat32, type ReadScratch } from '../../../src/engine/weights/safetensors.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { STEP_DEFAULTS } from '../../helpers/train-step.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-deferred-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function files(g: GraphBuilder, name: string): Promise<{ model: Buffer; data: Buffer }> {
  const { modelPath } = await writeModelDir(g, path.join(tmp, 'graphs', name));
  return { model: readFileSync(modelPath), data: readFileSync(`${modelPath}.data`) };
}

const CASES = [
  { dtype: 'F32' as const, sharded: false },
  { dtype: 'F16' as const, sharded: false },
  { dtype: 'BF16' as const, sharded: true },
];

describe('deferred frozen weights', () => {
  for (const { dtype, sharded } of CASES) {
    it(`${dtype}${sharded ? ', sharded' : ''}: the graph holds no values, and its files equal those built from the weights in memory`, async () => {
      const dir = path.join(tmp, `model-${dtype}`);
      // head_dim 16: the inference graph stacks q/k/v (with qwen2's biases) and gate/up.
      writeTinyModel(dir, 'qwen2', { seed: 3, hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, dtype, sharded });
      const lazy = await loadModel(dir, { lazyWeights: true });
      const eager = await loadModel(dir);
      expect(lazy.weights.readsSingly).toBe(true);
      expect(eager.weights.readsSingly).toBe(false);
      const builds: [string, (w: typeof lazy.weights) => GraphBuilder][] = [
        ['train', (w) => buildTrainStepGraph(lazy.config, w, { rank: 2, alpha: 4, targets: ['q', 'v', 'down'], maxTokensPerMicroBatch: 32, trainTokenIds: [], ...STEP_DEFAULTS })],
        ['train-int8', (w) => buildTrainStepGraph(lazy.config, w, { rank: 2, alpha: 4, targets: ['q'], maxTokensPerMicroBatch: 32, trainTokenIds: [], baseStorage: 'int8', ...STEP_DEFAULTS })],
        ['infer', (w) => buildInferenceGraph(lazy.config, w, { lastTokenOnly: true })],
      ];
      for (const [kind, build] of builds) {
        const deferredGraph = build(lazy.weights);
        const deferred = [...deferredGraph.initializers.values()].filter((i) => i.fill);
        expect(deferred.length, kind).toBeGreaterThan(0);
        expect(() => deferred[0]!.bytes).toThrow(/deferred/);
        if (kind === 'infer') expect(deferredGraph.initializers.get('blk.0.attn_qkv.weight')?.fill).toBeDefined();
        if (kind === 'train') expect(deferredGraph.initializers.get('blk.0.attn_q.weight')?.fill).toBeDefined();
        const [a, b] = [await files(deferredGraph, `${dtype}-${kind}-deferred`), await files(build(eager.weights), `${dtype}-${kind}-eager`)];
        expect(a.data.length, kind).toBeGreaterThan(0);
        expect(a.data.equals(b.data), `${kind}: data file`).toBe(true);
        expect(a.model.equals(b.model), `${kind}: model file`).toBe(true);
      }
    });
  }

  it('readTensorF32Into gives the values tensorToFloat32 gives, reusing one scratch buffer', async () => {
    const dir = path.join(tmp, 'model-BF16-single');
    writeTinyModel(dir, 'llama', { seed: 5, hidden: 32, layers: 1, dtype: 'BF16' });
    const header = await readSafetensorsHeader(path.join(dir, 'model.safetensors'));
    const scratch: ReadScratch = {};
    const bySize = [...header.tensors].sort((x, y) => y[1].byteLength - x[1].byteLength);
    for (const [name, loc] of bySize) {
      const out = new Float32Array(loc.byteLength / 2);
      readTensorF32Into(loc, out, scratch, name);
      expect(Array.from(out)).toEqual(Array.from(tensorToFloat32(readTensorAt(loc), name)));
    }
    // Grown once, for the largest tensor, then reused.
    expect(scratch.bytes!.byteLength).toBe(bySize[0]![1].byteLength);
  });
});
