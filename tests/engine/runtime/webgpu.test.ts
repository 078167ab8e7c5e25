/**
 * The graphs on ORT's WebGPU provider give the CPU's results: inference logits (with and without
 * the fused layers, prefill and cached decode), the whole training step (loss,
 * gradients, AdamW update) with compressed bases and dropout, and greedy chat on the real
 * stories260K weights. Training graphs built for WebGPU avoid the ops it lacks (Sum, LogSoftmax),
 * which would otherwise run on the CPU with copies each way; that spelling is checked on the CPU
 * too, so it is covered on every machine.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ChatSession } from '../../../src/engine/generate/chat-session.js';
import { probeDevices } from '../../../src/engine/runtime/devices.js';
import { runTuning } from '../../../src/engine/train/tune.js';
import { LORA_TARGETS } from '../../../src/engine/models/lora-targets.js';
import { buildInferenceGraph } from '../../../src/engine/models/inference-graph.js';
import { loadModel, type LoadedModel } from '../../../src/engine/models/load.js';
import type { GraphDevice } from '../../../src/engine/onnx/builder.js';
import { serializeGraph } from '../../../src/engine/onnx/serialize.js';
import { createSession, floatTensor, int64Tensor, type ResolvedDevice, type Tensor } from '../../../src/engine/runtime/session.js';
import { collate } from '../../../src/engine/train/batches.js';
import { buildTrainStepGraph, paramLayout, trainableTensors, type StepGraphOptions } from '../../../src/engine/train/step-graph.js';
import { cachedLogits, forwardLogits, maxAbsDiff } from '../../helpers/engine-run.js';
import { STORIES260K_HF_DIR, writeTinyModel } from '../../helpers/tiny-model.js';
import { webgpuUnavailableReason } from '../../helpers/webgpu.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-webgpu-'));
const SAMPLE_DATA = path.join(import.meta.dirname, '../../../resources/samples/customer-service.jsonl');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function tinyModel(name: string, arch: 'llama' | 'qwen2' | 'qwen3', headDim: number): Promise<LoadedModel> {
  const dir = path.join(tmp, name);
  writeTinyModel(dir, arch, { seed: 11, hidden: 32, layers: 2, heads: 4, kvHeads: 2, headDim, ffn: 48 });
  return loadModel(dir);
}

const EXAMPLES = [
  { ids: [1, 40, 300, 22, 401, 9, 77, 2], lossMask: [0, 0, 0, 1, 1, 1, 1, 1] },
  { ids: [1, 90, 12, 250, 3], lossMask: [0, 0, 1, 1, 1] },
];

function stepOptions(extra: Partial<StepGraphOptions>): StepGraphOptions {
  return {
    rank: 2, alpha: 4, targets: [...LORA_TARGETS], maxTokensPerMicroBatch: 16, trainTokenIds: [3, 7],
    beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1, lossChunks: 3, ...extra,
  };
}

/**
 * From fixed parameters and optimizer state: the gradients (a run with apply = 0 leaves them in
 * new.acc) and one AdamW update (apply = 1), with loss and gradient norm.
 */
async function runStep(model: LoadedModel, opts: StepGraphOptions, device: ResolvedDevice): Promise<Record<string, Float32Array>> {
  const graph = buildTrainStepGraph(model.config, model.weights, opts);
  const session = await createSession(serializeGraph(graph).model, { device, threads: 1 });
  const n = paramLayout(trainableTensors(model.config, opts)).total;
  const mb = collate(EXAMPLES, 1 << 20, 0);
  const feeds = (apply: number): Record<string, Tensor> => ({
    input_ids: int64Tensor(mb.inputIds, [mb.batch, mb.seq]),
    targets: int64Tensor(mb.targets, [mb.batch, mb.seq]),
    loss_weight: floatTensor(mb.lossWeight, [mb.batch, mb.seq]),
    loss_scale: floatTensor(Float32Array.of(1 / mb.targetTokens), []),
    step: floatTensor(Float32Array.of(3), []),
    lr: floatTensor(Float32Array.of(1e-2), []),
    apply: floatTensor(Float32Array.of(apply), []),
    params: floatTensor(Float32Array.from({ length: n }, (_, i) => 0.1 * Math.sin(i)), [n]),
    'adam.m': floatTensor(Float32Array.from({ length: n }, (_, i) => 0.01 * Math.cos(i)), [n]),
    'adam.v': floatTensor(Float32Array.from({ length: n }, (_, i) => 1e-4 * (1.5 + Math.sin(3 * i))), [n]),
    acc: floatTensor(new Float32Array(n), [n]),
    ...(opts.loraDropout ? { dropout_step: floatTensor(Float32Array.of(3), []) } : {}),
  });
  const data = (out: Record<string, Tensor>, keys: string[]) => keys.map((k) => [k, out[k].data as Float32Array]);
  const gradients = data(await session.run(feeds(0)), ['new.acc', 'loss_sum', 'tokens', 'grad_norm']);
  const update = data(await session.run(feeds(1)), ['new.params', 'new.adam.m', 'new.adam.v']);
  await session.release();
  return Object.fromEntries([...gradients, ...update]);
}

function expectSameStep(got: Record<string, Float32Array>, want: Record<string, Float32Array>, tol: number) {
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) expect(maxAbsDiff(got[k], want[k]), k).toBeLessThan(tol * Math.max(1, ...Array.from(want[k], Math.abs)));
}

const opTypes = (device: GraphDevice, model: LoadedModel, extra: Partial<StepGraphOptions> = {}) =>
  new Set(buildTrainStepGraph(model.config, model.weights, stepOptions({ ...extra, device })).nodes.map((n) => n.op));

describe('training graphs spelled for WebGPU', () => {
  it('use no Sum or LogSoftmax, and compute the same step as the CPU spelling', async () => {
    const model = await tinyModel('untied', 'llama', 8);
    // The CPU spelling has both ops, so this test would notice the WebGPU spelling being ignored.
    const cpuOps = opTypes('cpu', model);
    expect(cpuOps.has('Sum') && cpuOps.has('LogSoftmax')).toBe(true);
    const webgpuOps = opTypes('webgpu', model);
    expect(webgpuOps.has('Sum') || webgpuOps.has('LogSoftmax')).toBe(false);
    const want = await runStep(model, stepOptions({ device: 'cpu' }), 'cpu');
    const got = await runStep(model, stepOptions({ device: 'webgpu' }), 'cpu');
    expectSameStep(got, want, 1e-5);
  });
});

const unavailable = await webgpuUnavailableReason();
if (unavailable) console.warn(`WebGPU tests skipped: ${unavailable}`);

describe.skipIf(unavailable !== null)('the WebGPU provider', () => {
  for (const [arch, headDim] of [['llama', 16], ['qwen3', 16], ['qwen2', 8]] as const) {
    it(`${arch}, head_dim ${headDim}${headDim % 16 ? '' : ' (fused layers)'}: logits of prefill and cached decode match the CPU`, async () => {
      const model = await tinyModel(`${arch}-${headDim}`, arch, headDim);
      const bytes = serializeGraph(buildInferenceGraph(model.config, model.weights, { lastTokenOnly: false })).model;
      const ids = EXAMPLES[0].ids;
      const [cpu, gpu] = await Promise.all(['cpu', 'webgpu'].map((device) => createSession(bytes, { device: device as ResolvedDevice, threads: 1 })));
      const want = await forwardLogits(cpu, model, ids);
      expect(maxAbsDiff(await forwardLogits(gpu, model, ids), want)).toBeLessThan(1e-4);
      expect(maxAbsDiff(await cachedLogits(gpu, model, ids, 3), want)).toBeLessThan(1e-4);
      await Promise.all([cpu.release(), gpu.release()]);
    });
  }

  for (const extra of [{ baseStorage: 'f32' as const, loraDropout: 0.1 }, { baseStorage: 'int4' as const }]) {
    it(`a whole training step (${extra.baseStorage} base${extra.loraDropout ? ', dropout' : ''}) matches the CPU's`, async () => {
      const model = await tinyModel(`step-${extra.baseStorage}`, 'qwen3', 16);
      // The CPU reference expands the compressed base as graphs for a GPU do (its default is the
      // CPU's integer kernels, which round the activations to int8).
      const want = await runStep(model, stepOptions({ ...extra, device: 'cpu', compressedCompute: false }), 'cpu');
      const got = await runStep(model, stepOptions({ ...extra, device: 'webgpu' }), 'webgpu');
      expectSameStep(got, want, 1e-4);
    });
  }

  it('knows whether the GPU computes in half precision; tuning with an f16 base runs there or is refused in words', async () => {
    const probe = (await probeDevices()).find((p) => p.device === 'webgpu')!;
    expect(typeof probe.f16).toBe('boolean');
    const dir = path.join(tmp, 'f16-model');
    writeTinyModel(dir, 'llama', { seed: 3, hidden: 32, layers: 1, heads: 4, kvHeads: 2, headDim: 8, ffn: 48 });
    process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
    const run = runTuning({ model: dir, data: SAMPLE_DATA, out: path.join(tmp, 'f16-run'), template: 'chatml', device: 'webgpu', baseStorage: 'f16', maxSteps: 1, maxLength: 64, trainTokens: 'none' });
    // SwiftShader (CI) has no f16 shaders; a real GPU with shader-f16 takes the step.
    if (probe.f16) expect((await run).stoppedBecause).toBe('max-steps');
    else await expect(run).rejects.toThrow(/GPU \(WebGPU\) cannot compute with half-precision numbers/);
  });

  it('greedy chat on the real stories260K weights gives the recorded reference tokens', async () => {
    const fixture = JSON.parse(readFileSync(path.join(import.meta.dirname, '../../helpers/fixtures/stories260K-greedy.json'), 'utf8'));
    process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
    const chat = await ChatSession.open({ modelPath: STORIES260K_HF_DIR, device: 'webgpu' });
    try {
      expect(chat.device).toBe('webgpu');
      const r = await chat.complete(fixture.promptIds, { maxTokens: fixture.greedyIds.length });
      expect(r.tokens).toEqual(fixture.greedyIds);
    } finally {
      await chat.close();
    }
  });
});
