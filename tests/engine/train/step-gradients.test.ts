/**
 * The whole training step's gradients against an independent naive implementation: central
 * finite differences in float64 on the reference forward (tests/helpers/reference-forward.ts),
 * for every architecture, all seven LoRA targets, a padded batch of two sequences, and trained
 * token rows (tied and untied heads). Relative error < 1e-3 in F32.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/engine/models/load.js';
import { LORA_TARGETS } from '../../../src/engine/models/lora-targets.js';
import { loraParamName, TOKEN_EMBED_PARAM, TOKEN_HEAD_PARAM } from '../../../src/engine/train/step-graph.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { loadReferenceModel, loraModulePath, makeRandomLora, referenceBatchLoss, referenceLoraGrads } from '../../helpers/reference-forward.js';
import { openStep, relativeError, STEP_DEFAULTS, stepGradients } from '../../helpers/train-step.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-grad-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SEQS = [
  { ids: [1, 40, 300, 22, 401, 9, 77, 2], lossMask: [0, 0, 0, 0, 1, 1, 1, 1] },
  { ids: [1, 90, 12, 250, 3], lossMask: [0, 0, 1, 1, 1] },
];

const ARCH_CASES = [
  ...(['llama', 'mistral', 'qwen2', 'qwen3'] as const).map((arch) => ({ arch, mergeLora: false })),
  { arch: 'qwen2' as const, mergeLora: true }, // the merged-weight projection with its fused gradient
];
for (const { arch, mergeLora } of ARCH_CASES) {
  describe(`${arch}${mergeLora ? ' (merged LoRA)' : ''}: training-step gradients`, () => {
    it('LoRA gradients on all seven projections match finite differences of the reference', async () => {
      const dir = path.join(tmp, arch);
      writeTinyModel(dir, arch, { seed: 5, hidden: 16, layers: 2, heads: 4, kvHeads: 2, ffn: 24 });
      const model = await loadModel(dir);
      const ref = loadReferenceModel(dir);
      const rank = 2;
      const alpha = 4;
      const lora = makeRandomLora(ref, { rank, alpha, targets: [...LORA_TARGETS], seed: 17, stdA: 0.3, stdB: 0.3 });
      const params = new Map<string, Float32Array>();
      for (let l = 0; l < model.config.layers; l++) {
        for (const t of LORA_TARGETS) {
          params.set(loraParamName(l, t, 'A'), Float32Array.from(lora.A.get(loraModulePath(l, t))!));
          params.set(loraParamName(l, t, 'B'), Float32Array.from(lora.B.get(loraModulePath(l, t))!));
        }
      }
      const opts = { rank, alpha, targets: [...LORA_TARGETS], maxTokensPerMicroBatch: 16, trainTokenIds: [], mergeLora, ...STEP_DEFAULTS };
      const ours = await stepGradients(model, opts, params, SEQS);
      const expected = referenceLoraGrads(ref, SEQS.map((s) => s.ids), SEQS.map((s) => s.lossMask), lora);
      expect(Math.abs(ours.loss - expected.loss)).toBeLessThan(1e-4);
      for (let l = 0; l < model.config.layers; l++) {
        for (const t of LORA_TARGETS) {
          const key = loraModulePath(l, t);
          const gA = ours.grads.get(loraParamName(l, t, 'A'))!;
          const gB = ours.grads.get(loraParamName(l, t, 'B'))!;
          expect(relativeError(gA, expected.gradA.get(key)!), `${key} dA`).toBeLessThan(1e-3);
          expect(relativeError(gB, expected.gradB.get(key)!), `${key} dB`).toBeLessThan(1e-3);
        }
      }
    });
  });
}

describe('trained token rows', () => {
  for (const tie of [true, false]) {
    it(`${tie ? 'tied' : 'untied'} embeddings: row gradients match finite differences`, async () => {
      const dir = path.join(tmp, `rows-${tie}`);
      writeTinyModel(dir, 'llama', { seed: 8, hidden: 16, layers: 2, heads: 4, kvHeads: 2, ffn: 24, tie });
      const model = await loadModel(dir);
      const ref = loadReferenceModel(dir);
      const rows = [2, 77, 300]; // </s>, a token in the inputs, a token only predicted
      const D = model.config.hidden;
      const embed = model.weights.get('token_embd.weight').data;
      const head = tie ? embed : model.weights.get('output.weight').data;
      const take = (t: Float32Array) => Float32Array.from(rows.flatMap((r) => Array.from(t.subarray(r * D, (r + 1) * D))));
      const params = new Map<string, Float32Array>([[TOKEN_EMBED_PARAM, take(embed)]]);
      if (!tie) params.set(TOKEN_HEAD_PARAM, take(head));
      // LoRA present but with B = 0 (PEFT's init): the rows' gradients are then those of the base model.
      const lora = makeRandomLora(ref, { rank: 1, alpha: 1, targets: ['q'], seed: 3, stdB: 0 });
      for (let l = 0; l < model.config.layers; l++) {
        params.set(loraParamName(l, 'q', 'A'), Float32Array.from(lora.A.get(loraModulePath(l, 'q'))!));
        params.set(loraParamName(l, 'q', 'B'), new Float32Array(model.config.heads * model.config.headDim));
      }
      const opts = { rank: 1, alpha: 1, targets: ['q' as const], maxTokensPerMicroBatch: 16, trainTokenIds: rows, ...STEP_DEFAULTS };
      const ours = await stepGradients(model, opts, params, SEQS);
      const batch = SEQS.map((s) => ({ tokenIds: s.ids, lossMask: s.lossMask }));
      const fd = (weightName: string) => {
        const w = ref.weights.get(weightName)!;
        const grad = new Float64Array(rows.length * D);
        const h = 1e-5;
        rows.forEach((r, k) => {
          for (let i = 0; i < D; i++) {
            const at = r * D + i;
            const keep = w[at];
            w[at] = keep + h;
            const up = referenceBatchLoss(ref, batch).loss;
            w[at] = keep - h;
            const down = referenceBatchLoss(ref, batch).loss;
            w[at] = keep;
            grad[k * D + i] = (up - down) / (2 * h);
          }
        });
        return grad;
      };
      expect(relativeError(ours.grads.get(TOKEN_EMBED_PARAM)!, fd('model.embed_tokens.weight'))).toBeLessThan(1e-3);
      if (!tie) expect(relativeError(ours.grads.get(TOKEN_HEAD_PARAM)!, fd('lm_head.weight'))).toBeLessThan(1e-3);
    });
  }
});

describe('chunked loss', () => {
  it('splitting the loss into chunks changes nothing', async () => {
    const dir = path.join(tmp, 'chunks');
    writeTinyModel(dir, 'qwen2', { seed: 9, hidden: 16, layers: 1, heads: 4, kvHeads: 2, ffn: 24 });
    const model = await loadModel(dir);
    const params = new Map<string, Float32Array>();
    const ref = loadReferenceModel(dir);
    const lora = makeRandomLora(ref, { rank: 2, alpha: 2, targets: ['v', 'down'], seed: 2, stdA: 0.3, stdB: 0.3 });
    for (const t of ['v', 'down'] as const) {
      params.set(loraParamName(0, t, 'A'), Float32Array.from(lora.A.get(loraModulePath(0, t))!));
      params.set(loraParamName(0, t, 'B'), Float32Array.from(lora.B.get(loraModulePath(0, t))!));
    }
    const base = { rank: 2, alpha: 2, targets: ['v', 'down'] as ('v' | 'down')[], maxTokensPerMicroBatch: 16, trainTokenIds: [2], ...STEP_DEFAULTS };
    const embed = model.weights.get('token_embd.weight').data;
    params.set(TOKEN_EMBED_PARAM, Float32Array.from(embed.subarray(2 * 16, 3 * 16)));
    const one = await stepGradients(model, { ...base, lossChunks: 1 }, params, SEQS);
    const three = await stepGradients(model, { ...base, lossChunks: 3 }, params, SEQS);
    expect(Math.abs(one.loss - three.loss)).toBeLessThan(1e-6);
    for (const [name, g] of one.grads) expect(relativeError(three.grads.get(name)!, g)).toBeLessThan(1e-5);

    // Batches of 3, 7, 13 and 2 tokens through six chunks, one after the other in the same session:
    // chunk sizes 1,1,1,0,0,0 / 2,2,2,1,0,0 / 3,3,3,3,1,0 / 1,1,0,0,0,0. The file declares each chunk's
    // shapes under its own name (Graph.declaredValueDims), so buffers sized for one batch's chunk
    // are reused only where the next batch's chunk has the same size.
    const [whole, six] = [await openStep(model, { ...base, lossChunks: 1 }), await openStep(model, { ...base, lossChunks: 6 })];
    for (const n of [3, 7, 13, 2]) {
      const example = [{ ids: Array.from({ length: n }, (_, i) => 1 + ((i * 37 + n) % 400)), lossMask: Array.from({ length: n }, (_, i) => (i > 0 ? 1 : 0)) }];
      const [a, b] = [await whole.run(params, example), await six.run(params, example)];
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-6);
      for (const [name, g] of a.grads) expect(relativeError(b.grads.get(name)!, g)).toBeLessThan(1e-5);
    }
    await whole.release();
    await six.release();
  });
});

describe('recomputed activations', () => {
  const cases = [
    { arch: 'llama' as const, extra: {} },
    { arch: 'qwen3' as const, extra: { baseStorage: 'int4' as const, loraDropout: 0.2 } },
    { arch: 'qwen2' as const, extra: { baseStorage: 'f16' as const } },
  ];
  for (const { arch, extra } of cases) {
    it(`${arch}${'baseStorage' in extra ? `, ${extra.baseStorage} base` : ''}${'loraDropout' in extra ? ', dropout' : ''}: recomputing each layer in backward gives the same gradients`, async () => {
      const dir = path.join(tmp, `recompute-${arch}`);
      writeTinyModel(dir, arch, { seed: 12, hidden: 32, layers: 3, heads: 4, kvHeads: 2, ffn: 48 });
      const model = await loadModel(dir);
      const ref = loadReferenceModel(dir);
      const lora = makeRandomLora(ref, { rank: 2, alpha: 4, targets: [...LORA_TARGETS], seed: 5, stdA: 0.3, stdB: 0.3 });
      const params = new Map<string, Float32Array>();
      for (let l = 0; l < model.config.layers; l++) {
        for (const t of LORA_TARGETS) {
          params.set(loraParamName(l, t, 'A'), Float32Array.from(lora.A.get(loraModulePath(l, t))!));
          params.set(loraParamName(l, t, 'B'), Float32Array.from(lora.B.get(loraModulePath(l, t))!));
        }
      }
      const rows = [2, 300];
      const D = model.config.hidden;
      const embed = model.weights.get('token_embd.weight').data;
      params.set(TOKEN_EMBED_PARAM, Float32Array.from(rows.flatMap((r) => Array.from(embed.subarray(r * D, (r + 1) * D)))));
      if (!model.config.tieEmbeddings) {
        const head = model.weights.get('output.weight').data;
        params.set(TOKEN_HEAD_PARAM, Float32Array.from(rows.flatMap((r) => Array.from(head.subarray(r * D, (r + 1) * D)))));
      }
      const opts = { rank: 2, alpha: 4, targets: [...LORA_TARGETS], maxTokensPerMicroBatch: 16, trainTokenIds: rows, seed: 3, ...STEP_DEFAULTS, ...extra };
      const kept = await stepGradients(model, opts, params, SEQS);
      const recomputed = await stepGradients(model, { ...opts, recomputeActivations: true }, params, SEQS);
      expect(Math.abs(kept.loss - recomputed.loss)).toBeLessThan(1e-6);
      expect(recomputed.grads.size).toBe(kept.grads.size);
      for (const [name, g] of kept.grads) expect(relativeError(recomputed.grads.get(name)!, g), name).toBeLessThan(1e-5);
    });
  }
});
