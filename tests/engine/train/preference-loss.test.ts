/**
 * DPO and ORPO: the loss heads' gradients by finite differences in float64 (like any rule), their
 * values against plain arithmetic, and whole training steps against the independent float64
 * reference forward for every architecture.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/engine/onnx/builder.js';
import { serializeGraph } from '../../../src/engine/onnx/serialize.js';
import { loadModel } from '../../../src/engine/models/load.js';
import { LORA_TARGETS } from '../../../src/engine/models/lora-targets.js';
import { floatTensor } from '../../../src/engine/runtime/session.js';
import { loraParamName } from '../../../src/engine/train/step-graph.js';
import { dpoLoss, logSigmoid, orpoLoss, preferenceLossValue, rewardMetrics, type PreferenceMethod } from '../../../src/engine/train/losses/preference.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { loadReferenceModel, loraModulePath, makeRandomLora, referenceLoraGrads } from '../../helpers/reference-forward.js';
import { relativeError, STEP_DEFAULTS, stepGradients } from '../../helpers/train-step.js';
import { gradcheck } from '../onnx/gradcheck.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-pref-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('loss heads (float64 finite differences in random directions)', () => {
  it('log sigmoid is exact for large arguments and has the right gradient', async () => {
    await gradcheck((g, [x]) => g.reduceSum(g.mul(logSigmoid(g, x), g.constant('float64', [6], [0.3, -1.2, 0.7, 2, -0.4, 1.1])), [0], false), [{ shape: [6] }], { label: 'log_sigmoid', seed: 11 });
    const g = new GraphBuilder('ls');
    const x = g.input('x', 'float64', [4]);
    g.output(logSigmoid(g, x), 'y');
    const s = await ort.InferenceSession.create(serializeGraph(g).model);
    const y = (await s.run({ x: new ort.Tensor('float64', Float64Array.from([-800, 800, 0, -3]), [4]) })).y.data as Float64Array;
    expect(y[0]).toBeCloseTo(-800, 9);
    expect(y[1]).toBeCloseTo(0, 12);
    expect(y[2]).toBeCloseTo(-Math.LN2, 12);
    expect(y[3]).toBeCloseTo(-3 - Math.log1p(Math.exp(-3)), 12);
  });

  for (const method of ['dpo', 'orpo'] as PreferenceMethod[]) {
    it(`${method}: gradient with respect to the per-sequence log-probabilities`, async () => {
      for (const seed of [1, 2, 3]) {
        const r = await gradcheck(
          (g, [x, count, ref]) => {
            // log-probabilities are negative: logp = -x with x > 0
            const logp = g.neg(x);
            const inputs = { logp, count, ref, pairScale: g.scalar(1 / 3, 'float64'), tokenScale: g.scalar(1 / 17, 'float64') };
            return method === 'dpo' ? dpoLoss(g, inputs, 0.7).loss : orpoLoss(g, inputs, 0.4).loss;
          },
          [{ shape: [6], domain: 'positive' }, { shape: [6], domain: 'positive', frozen: true }, { shape: [6], frozen: true }],
          { label: method, seed },
        );
        expect(r.maxRelErr).toBeLessThan(1e-6);
      }
    });
  }

  it('dpo with rpoAlpha (the chosen answers\' NLL added): gradient, and the graph equals plain arithmetic', async () => {
    for (const seed of [1, 2]) {
      const r = await gradcheck(
        (g, [x, count, ref]) => dpoLoss(g, { logp: g.neg(x), count, ref, pairScale: g.scalar(1 / 3, 'float64'), tokenScale: g.scalar(1 / 17, 'float64'), rpoAlpha: 0.8 }, 0.7).loss,
        [{ shape: [6], domain: 'positive' }, { shape: [6], domain: 'positive', frozen: true }, { shape: [6], frozen: true }],
        { label: 'dpo+rpo', seed },
      );
      expect(r.maxRelErr).toBeLessThan(1e-6);
    }
    const rows = [
      { logp: -3.2, count: 4, ref: -3.0 },
      { logp: -5.1, count: 6, ref: -4.0 },
      { logp: -1.5, count: 2, ref: -1.5 },
      { logp: -2.5, count: 3, ref: -2.5 },
    ];
    const g = new GraphBuilder('rpo');
    const [logp, count, ref] = (['logp', 'count', 'ref'] as const).map((n) => g.input(n, 'float64', [4]));
    g.output(dpoLoss(g, { logp, count, ref, pairScale: g.scalar(0.5, 'float64'), tokenScale: g.scalar(1 / 6, 'float64'), rpoAlpha: 2 }, 0.1).loss, 'loss');
    const s = await ort.InferenceSession.create(serializeGraph(g).model);
    const t = (k: 'logp' | 'count' | 'ref') => new ort.Tensor('float64', Float64Array.from(rows.map((r) => r[k])), [4]);
    const out = await s.run({ logp: t('logp'), count: t('count'), ref: t('ref') });
    const plain = preferenceLossValue('dpo', rows, 0.1).loss;
    // The NLL term: 2 x (3.2 + 1.5) / (4 + 2) chosen tokens.
    expect(Number(out.loss.data[0])).toBeCloseTo(plain + (2 * 4.7) / 6, 12);
    expect(preferenceLossValue('dpo', rows, 0.1, 2).loss).toBeCloseTo(plain + (2 * 4.7) / 6, 12);
  });

  it('the graph heads equal plain arithmetic, and DPO at the reference is ln 2', async () => {
    const rows = [
      { logp: -3.2, count: 4, ref: -3.0 },
      { logp: -5.1, count: 6, ref: -4.0 },
      { logp: -1.5, count: 2, ref: -1.5 },
      { logp: -2.5, count: 3, ref: -2.5 },
    ];
    for (const method of ['dpo', 'orpo'] as PreferenceMethod[]) {
      const g = new GraphBuilder('head');
      const logp = g.input('logp', 'float64', [4]);
      const count = g.input('count', 'float64', [4]);
      const ref = g.input('ref', 'float64', [4]);
      const chosenTokens = rows[0].count + rows[2].count;
      const head = (method === 'dpo' ? dpoLoss : orpoLoss)(g, { logp, count, ref, pairScale: g.scalar(0.5, 'float64'), tokenScale: g.scalar(1 / chosenTokens, 'float64') }, 0.1);
      g.output(head.loss, 'loss');
      g.output(head.rewards, 'rewards');
      const s = await ort.InferenceSession.create(serializeGraph(g).model);
      const t = (k: 'logp' | 'count' | 'ref') => new ort.Tensor('float64', Float64Array.from(rows.map((r) => r[k])), [4]);
      const out = await s.run({ logp: t('logp'), count: t('count'), ref: t('ref') });
      const want = preferenceLossValue(method, rows, 0.1);
      expect(Number(out.loss.data[0])).toBeCloseTo(want.loss, 12);
      Array.from(out.rewards.data as Float64Array).forEach((v, i) => expect(v).toBeCloseTo(want.rewards[i], 12));
    }
    const atRef = preferenceLossValue('dpo', rows.map((r) => ({ ...r, ref: r.logp })), 0.1);
    expect(atRef.loss).toBeCloseTo(Math.LN2, 12);
    expect(rewardMetrics([1, 0.5, -1, 0.2])).toEqual({ rewards_chosen: 0, rewards_rejected: 0.35, reward_margin: -0.35, reward_accuracy: 0.5 });
  });
});

// Two pairs, interleaved (chosen, rejected, chosen, rejected); the answers differ in length.
const PAIRS = [
  { ids: [1, 40, 300, 22, 401, 9, 77, 2], lossMask: [0, 0, 0, 0, 1, 1, 1, 1] },
  { ids: [1, 40, 300, 22, 18, 2], lossMask: [0, 0, 0, 0, 1, 1] },
  { ids: [1, 90, 12, 250, 3], lossMask: [0, 0, 1, 1, 1] },
  { ids: [1, 90, 12, 61, 62, 63, 2], lossMask: [0, 0, 1, 1, 1, 1, 1] },
];
const REF = [-30.5, -21.25, -17.5, -36]; // reference log-probabilities (constants of the data)

for (const arch of ['llama', 'mistral', 'qwen2', 'qwen3'] as const) {
  describe(`${arch}: preference training-step gradients`, () => {
    for (const method of ['dpo', 'orpo'] as PreferenceMethod[]) {
      it(`${method}: loss and LoRA gradients match finite differences of the float64 reference`, async () => {
        const dir = path.join(tmp, `${arch}`);
        writeTinyModel(dir, arch, { seed: 5, hidden: 16, layers: 2, heads: 4, kvHeads: 2, ffn: 24 });
        const model = await loadModel(dir);
        const ref = loadReferenceModel(dir);
        const rank = 2;
        const alpha = 4;
        const targets = arch === 'llama' ? [...LORA_TARGETS] : (['q', 'v', 'down'] as const).slice();
        const lora = makeRandomLora(ref, { rank, alpha, targets, seed: 17, stdA: 0.3, stdB: 0.3 });
        const params = new Map<string, Float32Array>();
        for (let l = 0; l < model.config.layers; l++) {
          for (const t of targets) {
            params.set(loraParamName(l, t, 'A'), Float32Array.from(lora.A.get(loraModulePath(l, t))!));
            params.set(loraParamName(l, t, 'B'), Float32Array.from(lora.B.get(loraModulePath(l, t))!));
          }
        }
        const beta = method === 'dpo' ? 0.1 : 0.5;
        const combine = (rows: { sum: number; count: number }[]) =>
          preferenceLossValue(method, rows.map((r, i) => ({ logp: -r.sum, count: r.count, ref: REF[i] })), beta).loss;
        const opts = { rank, alpha, targets, maxTokensPerMicroBatch: 32, trainTokenIds: [], method, beta, ...STEP_DEFAULTS };
        const extra = {
          pair_scale: floatTensor(Float32Array.of(1 / 2), []),
          ref_logps: floatTensor(Float32Array.from(REF), [4]),
        };
        // loss_scale = 1 / chosen response tokens (ORPO's NLL is a mean over the chosen tokens).
        const expected = referenceLoraGrads(ref, PAIRS.map((s) => s.ids), PAIRS.map((s) => s.lossMask), lora, { combine });
        const chosenCount = [0, 2].map((i) => PAIRS[i].lossMask.slice(1).reduce((a, b) => a + b, 0)).reduce((a, b) => a + b, 0);
        const ours = await stepGradients(model, opts, params, PAIRS, { ...extra, loss_scale: floatTensor(Float32Array.of(1 / chosenCount), []) });
        expect(Math.abs(ours.lossSum - expected.loss)).toBeLessThan(1e-4);
        for (let l = 0; l < model.config.layers; l++) {
          for (const t of targets) {
            const key = loraModulePath(l, t);
            expect(relativeError(ours.grads.get(loraParamName(l, t, 'A'))!, expected.gradA.get(key)!), `${key} dA`).toBeLessThan(1e-3);
            expect(relativeError(ours.grads.get(loraParamName(l, t, 'B'))!, expected.gradB.get(key)!), `${key} dB`).toBeLessThan(1e-3);
          }
        }
      });
    }
  });
}

describe('llama: DPO with rpoAlpha, full training step', () => {
  it('loss and LoRA gradients match finite differences of the float64 reference', async () => {
    const dir = path.join(tmp, 'rpo-llama');
    writeTinyModel(dir, 'llama', { seed: 5, hidden: 16, layers: 2, heads: 4, kvHeads: 2, ffn: 24 });
    const model = await loadModel(dir);
    const ref = loadReferenceModel(dir);
    const targets = ['q', 'v', 'down'] as const;
    const lora = makeRandomLora(ref, { rank: 2, alpha: 4, targets: [...targets], seed: 17, stdA: 0.3, stdB: 0.3 });
    const params = new Map<string, Float32Array>();
    for (let l = 0; l < model.config.layers; l++) {
      for (const t of targets) {
        params.set(loraParamName(l, t, 'A'), Float32Array.from(lora.A.get(loraModulePath(l, t))!));
        params.set(loraParamName(l, t, 'B'), Float32Array.from(lora.B.get(loraModulePath(l, t))!));
      }
    }
    const combine = (rows: { sum: number; count: number }[]) => preferenceLossValue('dpo', rows.map((r, i) => ({ logp: -r.sum, count: r.count, ref: REF[i] })), 0.1, 1.5).loss;
    const opts = { rank: 2, alpha: 4, targets: [...targets], maxTokensPerMicroBatch: 32, trainTokenIds: [], method: 'dpo' as const, beta: 0.1, rpoAlpha: 1.5, ...STEP_DEFAULTS };
    const expected = referenceLoraGrads(ref, PAIRS.map((s) => s.ids), PAIRS.map((s) => s.lossMask), lora, { combine });
    const chosenCount = [0, 2].map((i) => PAIRS[i].lossMask.slice(1).reduce((a, b) => a + b, 0)).reduce((a, b) => a + b, 0);
    const ours = await stepGradients(model, opts, params, PAIRS, {
      pair_scale: floatTensor(Float32Array.of(1 / 2), []), ref_logps: floatTensor(Float32Array.from(REF), [4]), loss_scale: floatTensor(Float32Array.of(1 / chosenCount), []),
    });
    expect(Math.abs(ours.lossSum - expected.loss)).toBeLessThan(1e-4);
    for (let l = 0; l < model.config.layers; l++) {
      for (const t of targets) {
        const key = loraModulePath(l, t);
        expect(relativeError(ours.grads.get(loraParamName(l, t, 'A'))!, expected.gradA.get(key)!), `${key} dA`).toBeLessThan(1e-3);
        expect(relativeError(ours.grads.get(loraParamName(l, t, 'B'))!, expected.gradB.get(key)!), `${key} dB`).toBeLessThan(1e-3);
      }
    }
  });
});

describe('preference steps with trained token rows', () => {
  for (const tie of [true, false]) {
    it(`${tie ? 'tied' : 'untied'} head: chunking the loss changes nothing, and the rows get a gradient`, async () => {
      const dir = path.join(tmp, `rows-${tie}`);
      writeTinyModel(dir, 'llama', { seed: 8, hidden: 16, layers: 1, heads: 4, kvHeads: 2, ffn: 24, tie });
      const model = await loadModel(dir);
      const D = model.config.hidden;
      const rows = [2, 63];
      const take = (t: Float32Array) => Float32Array.from(rows.flatMap((r) => Array.from(t.subarray(r * D, (r + 1) * D))));
      const params = new Map<string, Float32Array>([['tokens.embed', take(model.weights.get('token_embd.weight').data)]]);
      if (!tie) params.set('tokens.head', take(model.weights.get('output.weight').data));
      const ref = loadReferenceModel(dir);
      const lora = makeRandomLora(ref, { rank: 2, alpha: 2, targets: ['q'], seed: 3, stdA: 0.3, stdB: 0.3 });
      params.set(loraParamName(0, 'q', 'A'), Float32Array.from(lora.A.get(loraModulePath(0, 'q'))!));
      params.set(loraParamName(0, 'q', 'B'), Float32Array.from(lora.B.get(loraModulePath(0, 'q'))!));
      const extra = { pair_scale: floatTensor(Float32Array.of(0.5), []), ref_logps: floatTensor(Float32Array.from(REF), [4]), loss_scale: floatTensor(Float32Array.of(0.1), []) };
      for (const method of ['dpo', 'orpo'] as PreferenceMethod[]) {
        const base = { rank: 2, alpha: 2, targets: ['q' as const], maxTokensPerMicroBatch: 32, trainTokenIds: rows, method, ...STEP_DEFAULTS };
        const one = await stepGradients(model, { ...base, lossChunks: 1 }, params, PAIRS, extra);
        const three = await stepGradients(model, { ...base, lossChunks: 3 }, params, PAIRS, extra);
        expect(Math.abs(one.lossSum - three.lossSum)).toBeLessThan(1e-6);
        for (const [name, g] of one.grads) expect(relativeError(three.grads.get(name)!, g), `${method} ${name}`).toBeLessThan(1e-5);
        expect(Math.max(...one.grads.get('tokens.embed')!.map(Math.abs))).toBeGreaterThan(0);
        if (!tie) expect(Math.max(...one.grads.get('tokens.head')!.map(Math.abs))).toBeGreaterThan(0);
      }
    });
  }
});
