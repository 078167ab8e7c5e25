/**
 * Products with the compressed frozen base computed by integer kernels (MatMulNBits for int4 and
 * GGUF Q8_0/Q4_0 blocks, MatMulInteger for int8), not by expanding the matrices to F32. The
 * kernels quantize the activations to int8 (per row, or per block of 32), so the results match
 * the F32 graph on the same (expanded) weights closely but not exactly: logits and LoRA gradients
 * are checked against it with a tolerance, on tiny random models of every architecture (64-wide,
 * where 8-bit rounding weighs more than in real widths; a wrong Q/K row order is off by over
 * 30%). The figure that matters, the validation loss after training, is bench:train's.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, type LoadedModel } from '../../../src/engine/models/load.js';
import { expandedWeights, quantizeInt4Blocks, type BaseStorage } from '../../../src/engine/models/base-storage.js';
import { expandNBits, nbitsFromGguf, nbitsFromInt4 } from '../../../src/engine/models/nbits.js';
import { buildInferenceGraph } from '../../../src/engine/models/inference-graph.js';
import { LORA_TARGETS, projectionShape } from '../../../src/engine/models/lora-targets.js';
import { serializeGraph } from '../../../src/engine/onnx/serialize.js';
import { createSession } from '../../../src/engine/runtime/session.js';
import { buildTrainStepGraph, loraParamName } from '../../../src/engine/train/step-graph.js';
import { dequantize, quantize } from '../../../src/engine/weights/quants.js';
import { writeGgufModel, type FloatTensor, type GgufExportType } from '../../../src/engine/weights/gguf-model.js';
import { readSafetensors, tensorToFloat32 } from '../../../src/engine/weights/safetensors.js';
import { writeTinyModel, type TinyArch } from '../../helpers/tiny-model.js';
import { cachedLogits, forwardLogits } from '../../helpers/engine-run.js';
import { relativeError, STEP_DEFAULTS, stepGradients } from '../../helpers/train-step.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-nbits-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const IDS = [1, 40, 300, 22, 401, 9, 77, 2, 5, 6, 120, 33];
const ARCHS: TinyArch[] = ['llama', 'mistral', 'qwen2', 'qwen3'];
const SHAPE = { hidden: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96 };
/** K-quant super-blocks hold 256 values: every matrix's rows a whole number of them. */
const K_SHAPE = { hidden: 256, layers: 2, heads: 8, kvHeads: 4, ffn: 512 };

async function session(model: LoadedModel, opts: { baseStorage?: BaseStorage; compressedCompute?: boolean }) {
  return createSession(serializeGraph(buildInferenceGraph(model.config, model.weights, { lastTokenOnly: false, ...opts })).model, { threads: 1 });
}

/** Op types of the session ORT optimised (what actually runs). */
async function optimisedOps(graph: ReturnType<typeof buildInferenceGraph>, name: string): Promise<{ ops: Map<string, number>; floatMatrices: string[] }> {
  const file = path.join(tmp, `${name}.onnx`);
  const s = await ort.InferenceSession.create(serializeGraph(graph).model, { graphOptimizationLevel: 'all', optimizedModelFilePath: file });
  await s.release();
  const g = onnxProto.onnx.ModelProto.decode(readFileSync(file)).graph!;
  const ops = new Map<string, number>();
  for (const n of g.node!) ops.set(n.opType!, (ops.get(n.opType!) ?? 0) + 1);
  const F32 = onnxProto.onnx.TensorProto.DataType.FLOAT;
  const floatMatrices = g.initializer!.filter((t) => t.dataType === F32 && t.dims!.reduce((p, d) => p * Number(d), 1) >= 64 * 64 && !/scales|offsets|cache/.test(t.name!)).map((t) => t.name!);
  return { ops, floatMatrices };
}

describe('MatMulNBits layouts are exact re-encodings', () => {
  const x = Float32Array.from({ length: 4 * 64 }, (_, i) => Math.sin(i * 0.37) * 0.05 + (i % 7 === 0 ? 0.2 : 0));
  it('GGUF Q8_0 and Q4_0 blocks give back the values llama.cpp dequantizes', () => {
    for (const type of ['Q8_0', 'Q4_0'] as const) {
      const bytes = quantize(type, x);
      expect(expandNBits(nbitsFromGguf({ type, bytes }, 4, 64), 4, 64), type).toEqual(dequantize(type, bytes, x.length));
    }
  });
  it('GGUF Q6_K blocks (8 bits, blocks of 16, q + 96) give back exactly the values llama.cpp dequantizes', () => {
    const wide = Float32Array.from({ length: 4 * 512 }, (_, i) => Math.sin(i * 0.37) * 0.05 + (i % 7 === 0 ? 0.2 : 0) - (i % 300 === 0 ? 0.5 : 0));
    const bytes = quantize('Q6_K', wide);
    const m = nbitsFromGguf({ type: 'Q6_K', bytes }, 4, 512);
    expect([m.bits, m.block, m.offsets]).toEqual([8, 16, undefined]);
    expect(expandNBits(m, 4, 512)).toEqual(dequantize('Q6_K', bytes, wide.length));
  });
  it('GGUF Q4_K blocks (4 bits, blocks of 32, plus a constant per block) give back the values llama.cpp dequantizes', () => {
    const wide = Float32Array.from({ length: 4 * 512 }, (_, i) => Math.sin(i * 0.37) * 0.05 + (i % 7 === 0 ? 0.2 : 0) + (i % 96 < 32 ? 0.1 : 0));
    const bytes = quantize('Q4_K', wide);
    const m = nbitsFromGguf({ type: 'Q4_K', bytes }, 4, 512);
    const want = dequantize('Q4_K', bytes, wide.length);
    const got = expandNBits(m, 4, 512);
    // s (q - 8) + (8 s - dmin m) is s q - dmin m up to float32 rounding of the sum.
    const scale = Math.max(...want.map(Math.abs));
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `value ${i}`).toBeLessThan(scale * 2 ** -21);
    expect(Math.max(...m.offsets!.map(Math.abs))).toBeGreaterThan(0);
  });
  it("Attune's int4 gives back its expanded weights", () => {
    const t = { shape: [4, 64], data: x };
    expect(expandNBits(nbitsFromInt4(quantizeInt4Blocks(t)), 4, 64)).toEqual(expandedWeights(t, 'int4'));
  });
});

describe('inference on a compressed base', () => {
  for (const arch of ARCHS) {
    for (const storage of ['int8', 'int4'] as const) {
      it(`${arch} ${storage}: logits (whole prompt and cached decoding) within 3% of the F32 graph on the same weights`, async () => {
        const dir = path.join(tmp, `inf-${arch}-${storage}`);
        writeTinyModel(dir, arch, { seed: 3, ...SHAPE });
        const model = await loadModel(dir);
        const ours = await session(model, { baseStorage: storage });
        const reference = await session(model, { baseStorage: storage, compressedCompute: false });
        const ref = await forwardLogits(reference, model, IDS);
        expect(relativeError(await forwardLogits(ours, model, IDS), ref)).toBeLessThan(0.03);
        expect(relativeError(await cachedLogits(ours, model, IDS, 5), ref)).toBeLessThan(0.03);
      });
    }
  }

  for (const storage of ['int8', 'int4'] as const) {
    it(`${storage}: the optimised session multiplies with integer kernels and holds no F32 matrix`, async () => {
      const dir = path.join(tmp, `ops-${storage}`);
      writeTinyModel(dir, 'llama', { seed: 3, ...SHAPE });
      const model = await loadModel(dir);
      const { ops, floatMatrices } = await optimisedOps(buildInferenceGraph(model.config, model.weights, { lastTokenOnly: true, baseStorage: storage }), `ops-${storage}`);
      expect(floatMatrices).toEqual([]);
      expect(ops.get('DequantizeLinear') ?? 0).toBe(0);
      // 7 projections per layer and the head
      if (storage === 'int4') expect(ops.get('MatMulNBits')).toBe(2 * 7 + 1);
      else expect((ops.get('MatMulInteger') ?? 0) + (ops.get('MatMulIntegerToFloat') ?? 0)).toBe(2 * 7 + 1);
    });
  }
});

/** The tiny model of `arch` written as a GGUF of `type` (K-quants need rows of whole 256-value super-blocks: 256 wide). */
async function ggufOf(arch: TinyArch, type: GgufExportType, seed = 5): Promise<string> {
  const shape = type.endsWith('_K') ? K_SHAPE : SHAPE;
  const dir = path.join(tmp, `gguf-src-${arch}-${shape.hidden}-${seed}`);
  writeTinyModel(dir, arch, { seed, ...shape });
  const st = await readSafetensors(path.join(dir, 'model.safetensors'));
  const tensors = new Map<string, FloatTensor>();
  for (const [k, t] of st.tensors) tensors.set(k, { data: tensorToFloat32(t), shape: t.shape });
  const json = async (f: string) => JSON.parse(await readFile(path.join(dir, f), 'utf8'));
  const file = path.join(tmp, `${arch}-${type}-${seed}.gguf`);
  await writeGgufModel(file, { tensors, config: await json('config.json'), tokenizerJson: await json('tokenizer.json'), tokenizerConfig: await json('tokenizer_config.json'), type });
  return file;
}

describe('GGUF Q8_0 / Q4_0 / Q4_K / Q6_K kept compressed', () => {
  for (const arch of ['llama', 'qwen2'] as const) {
    for (const type of ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'] as const) {
      it(`${arch} ${type}: chat multiplies the file's blocks (MatMulNBits ${type === 'Q8_0' || type === 'Q6_K' ? 8 : 4} bits), logits within 2% of the file expanded to F32`, async () => {
        const model = await loadModel(await ggufOf(arch, type));
        expect(model.weights.get('blk.0.attn_q.weight').gguf?.type).toBe(type);
        expect(model.storedDtype).toBe(`GGUF (${type} as stored, the rest read as F32)`);
        // No F32 copy of a kept matrix is held, and building the chat graph expands none.
        const kept = [...model.weights.tensors.values()].filter((t) => t.gguf);
        expect(kept.length).toBe(2 * 7 + (model.config.tieEmbeddings ? 1 : 2));
        const getters = kept.map((t) => [t, Object.getOwnPropertyDescriptor(t, 'data')!] as const);
        for (const [t, d] of getters) {
          expect(d.get).toBeDefined();
          Object.defineProperty(t, 'data', { get: () => expect.unreachable('chat read the F32 values of a kept matrix'), configurable: true });
        }
        const ours = await session(model, {});
        const { ops, floatMatrices } = await optimisedOps(buildInferenceGraph(model.config, model.weights, { lastTokenOnly: true }), `gguf-${arch}-${type}`);
        // Per layer q/k/v stacked (one product), o, gate/up stacked, down; then the head.
        expect(ops.get('MatMulNBits')).toBe(2 * 4 + 1);
        expect(floatMatrices).toEqual([]);
        for (const [t, d] of getters) Object.defineProperty(t, 'data', d);
        const reference = await session(model, { compressedCompute: false });
        const ref = await forwardLogits(reference, model, IDS);
        // Q/K rows of llama files are permuted in the file: a wrong row order would be far off.
        expect(relativeError(await forwardLogits(ours, model, IDS), ref)).toBeLessThan(0.02);
        expect(relativeError(await cachedLogits(ours, model, IDS, 4), ref)).toBeLessThan(0.02);
      });
    }
  }
});

/** Rank-2 LoRA factors on every projection, fixed values. */
function loraParams(model: LoadedModel): Map<string, Float32Array> {
  const params = new Map<string, Float32Array>();
  for (let l = 0; l < model.config.layers; l++) {
    for (const t of LORA_TARGETS) {
      const [out, inp] = projectionShape(model.config, t);
      params.set(loraParamName(l, t, 'A'), Float32Array.from({ length: 2 * inp }, (_, i) => Math.sin(i + l) * 0.2));
      params.set(loraParamName(l, t, 'B'), Float32Array.from({ length: 2 * out }, (_, i) => Math.cos(i * 3 + l) * 0.2));
    }
  }
  return params;
}

describe('training on a compressed base', () => {
  const variants: [TinyArch, BaseStorage, 'int8' | 'expand'][] = ARCHS.flatMap((arch) => [[arch, 'int8', 'int8'], [arch, 'int4', 'int8']] as [TinyArch, BaseStorage, 'int8'][]);
  variants.push(['llama', 'int4', 'expand']);
  for (const [arch, storage, int4InputGradient] of variants) {
    const via = storage === 'int4' ? ` (input gradient via ${int4InputGradient === 'int8' ? 'an int8 copy' : 'F32 expansion'})` : '';
    it(`${arch} ${storage}${via}: loss within 1% and every LoRA gradient within 12% of the F32 step on the same weights`, async () => {
      const dir = path.join(tmp, `train-${arch}-${storage}-${int4InputGradient}`);
      writeTinyModel(dir, arch, { seed: 4, ...SHAPE });
      const model = await loadModel(dir);
      const params = loraParams(model);
      const opts = { rank: 2, alpha: 4, targets: [...LORA_TARGETS], maxTokensPerMicroBatch: 32, trainTokenIds: [], baseStorage: storage, int4InputGradient, ...STEP_DEFAULTS };
      const examples = [{ ids: IDS, lossMask: IDS.map((_, i) => (i > 3 ? 1 : 0)) }];
      const ours = await stepGradients(model, opts, params, examples);
      const ref = await stepGradients(model, { ...opts, compressedCompute: false }, params, examples);
      expect(Math.abs(ours.loss - ref.loss) / ref.loss).toBeLessThan(0.01);
      for (const [name, g] of ref.grads) expect(relativeError(ours.grads.get(name)!, g), name).toBeLessThan(0.12);
    });
  }

  const ggufVariants: [TinyArch, GgufExportType, 'int8' | 'expand'][] = [['llama', 'Q4_K', 'int8'], ['qwen2', 'Q4_K', 'int8'], ['llama', 'Q6_K', 'int8'], ['qwen2', 'Q6_K', 'int8'], ['llama', 'Q8_0', 'int8'], ['qwen2', 'Q4_0', 'int8'], ['llama', 'Q4_K', 'expand'], ['qwen2', 'Q6_K', 'expand']];
  for (const [arch, type, int4InputGradient] of ggufVariants) {
    it(`GGUF ${type} ${arch}, tuned on as stored (input gradient via ${int4InputGradient === 'int8' ? 'an int8 copy' : 'a fresh expansion'}): loss within 1% and every LoRA gradient within 12% of the F32 step on the expanded file`, async () => {
      // The training tests' seed (4): on seed 5's 256-wide model some layer-0 gradients are
      // ill-conditioned: the 8-bit rounding of activations in MatMulNBits (accuracy level 4) moves
      // Q4_K's attn_q.A by 24% (Q8_0's by up to 15%) while the loss agrees within 0.1%; with F32
      // activations (level 0) the same Q4_K step is within 12%, so the layout is not the cause.
      const model = await loadModel(await ggufOf(arch, type, 4));
      const params = loraParams(model);
      const opts = { rank: 2, alpha: 4, targets: [...LORA_TARGETS], maxTokensPerMicroBatch: 32, trainTokenIds: [], int4InputGradient, ...STEP_DEFAULTS };
      const examples = [{ ids: IDS, lossMask: IDS.map((_, i) => (i > 3 ? 1 : 0)) }];
      const ours = await stepGradients(model, opts, params, examples);
      const ref = await stepGradients(model, { ...opts, compressedCompute: false }, params, examples);
      expect(Math.abs(ours.loss - ref.loss) / ref.loss).toBeLessThan(0.01);
      for (const [name, g] of ref.grads) expect(relativeError(ours.grads.get(name)!, g), name).toBeLessThan(0.12);
    });
  }

  it('a GGUF step multiplies the blocks forward (MatMulNBits) and the input gradients by int8 copies; another storage chosen requantizes', async () => {
    const model = await loadModel(await ggufOf('llama', 'Q4_K'));
    const step = (baseStorage: BaseStorage, int4InputGradient?: 'expand') => buildTrainStepGraph(model.config, model.weights, { rank: 2, alpha: 4, targets: ['q', 'v'], maxTokensPerMicroBatch: 16, trainTokenIds: [], baseStorage, int4InputGradient, ...STEP_DEFAULTS });
    const { ops, floatMatrices } = await optimisedOps(step('f32') as never, 'train-ops-gguf');
    // 7 projections in 2 layers forward; input gradients for all but layer 0's q, k, v
    expect(ops.get('MatMulNBits')).toBe(14);
    expect((ops.get('MatMulInteger') ?? 0) + (ops.get('MatMulIntegerToFloat') ?? 0)).toBe(11);
    // F32: only the (untied) head's table, for its gradient

    expect(floatMatrices).toEqual(['output.weight']);
    // 'expand': the input gradients through fresh expansions, still no F32 copy of a projection
    const { ops: expand, floatMatrices: expandFloats } = await optimisedOps(step('f32', 'expand') as never, 'train-ops-gguf-expand');
    expect(expand.get('MatMulNBits')).toBe(14);
    expect(expand.get('DequantizeLinear')).toBe(11);

    expect(expandFloats).toEqual(['output.weight']);
    const { ops: int8 } = await optimisedOps(step('int8') as never, 'train-ops-gguf-int8');
    expect(int8.get('MatMulNBits') ?? 0).toBe(0);
  });

  it('int8 and int4 steps multiply with integer kernels forward and backward, the head forward too', async () => {
    const dir = path.join(tmp, 'train-ops');
    writeTinyModel(dir, 'llama', { seed: 3, ...SHAPE });
    const model = await loadModel(dir);
    for (const storage of ['int8', 'int4'] as const) {
      const graph = buildTrainStepGraph(model.config, model.weights, { rank: 2, alpha: 4, targets: ['q', 'v'], maxTokensPerMicroBatch: 16, trainTokenIds: [], baseStorage: storage, ...STEP_DEFAULTS });
      const { ops } = await optimisedOps(graph as never, `train-ops-${storage}`);
      const integer = (ops.get('MatMulInteger') ?? 0) + (ops.get('MatMulIntegerToFloat') ?? 0);
      // 7 projections in 2 layers forward; input gradients for all but layer 0's q, k, v; the
      // head's logits (one loss chunk here). int4 multiplies an int8 copy of its values in
      // training (MatMulNBits is the slower kernel for many rows); its blocks serve chat.
      expect(integer).toBe(14 + 11 + 1);
      expect(ops.get('MatMulNBits') ?? 0).toBe(0);
      expect(ops.get('DequantizeLinear'), 'the head gradient reads one expansion of the table').toBe(1);
    }
  });
});
