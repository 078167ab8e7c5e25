/** Graph AdamW + global-norm clipping against a plain TypeScript reference, 3 steps. */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/engine/onnx/builder.js';
import { serializeGraph } from '../../../src/engine/onnx/serialize.js';
import { adamW, clipByGlobalNorm, type AdamWOptions } from '../../../src/engine/onnx/autodiff/optimizer.js';
import { rng, sample } from './gradcheck.js';

const HP: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
const SHAPES = [[4, 3], [5]];
const MAX_NORM = 1.5;

/** torch.nn.utils.clip_grad_norm_ + torch.optim.AdamW, written out. */
function referenceStep(p: Float64Array[], grads: Float64Array[], m: Float64Array[], v: Float64Array[], t: number, lr: number) {
  const norm = Math.sqrt(grads.reduce((s, gr) => s + gr.reduce((a, x) => a + x * x, 0), 0));
  const coef = Math.min(1, MAX_NORM / (norm + 1e-6));
  const bc1 = 1 - HP.beta1 ** t;
  const bc2 = 1 - HP.beta2 ** t;
  p.forEach((pi, i) => {
    for (let k = 0; k < pi.length; k++) {
      const gk = grads[i][k] * coef;
      pi[k] *= 1 - lr * HP.weightDecay;
      m[i][k] = HP.beta1 * m[i][k] + (1 - HP.beta1) * gk;
      v[i][k] = HP.beta2 * v[i][k] + (1 - HP.beta2) * gk * gk;
      pi[k] -= (lr / bc1) * m[i][k] / (Math.sqrt(v[i][k]) / Math.sqrt(bc2) + HP.eps);
    }
  });
  return norm;
}

async function run(dtype: 'float32' | 'float64') {
  const g = new GraphBuilder('adamw');
  const params = SHAPES.map((s, i) => g.input(`p${i}`, dtype, s));
  const grads = SHAPES.map((s, i) => g.input(`g${i}`, dtype, s));
  const m = SHAPES.map((s, i) => g.input(`m${i}`, dtype, s));
  const v = SHAPES.map((s, i) => g.input(`v${i}`, dtype, s));
  const step = g.input('step', 'float32', []);
  const lr = g.input('lr', 'float32', []);
  const { clipped, norm } = clipByGlobalNorm(g, grads, MAX_NORM);
  const out = adamW(g, params, clipped, { m, v }, step, lr, HP);
  g.output(norm, 'norm');
  out.newParams.forEach((x, i) => g.output(x, `new_p${i}`));
  out.newM.forEach((x, i) => g.output(x, `new_m${i}`));
  out.newV.forEach((x, i) => g.output(x, `new_v${i}`));
  const session = await ort.InferenceSession.create(serializeGraph(g).model);

  const rand = rng(11);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const ref = { p: SHAPES.map((s) => sample(rand, size(s))), m: SHAPES.map((s) => new Float64Array(size(s))), v: SHAPES.map((s) => new Float64Array(size(s))) };
  let state = { p: ref.p.map((x) => x.slice()), m: ref.m.map((x) => x.slice()), v: ref.v.map((x) => x.slice()) };
  const tensor = (x: Float64Array, s: number[]) => new ort.Tensor(dtype, dtype === 'float64' ? x : Float32Array.from(x), s);
  let worst = 0;
  for (let t = 1; t <= 3; t++) {
    const lr = 0.01 * t; // a schedule: lr changes between steps
    const scale = t === 2 ? 0.05 : 2; // step 2 stays under the clipping threshold
    const gr = SHAPES.map((s) => sample(rand, size(s)).map((x) => x * scale));
    const feeds: Record<string, ort.Tensor> = { step: new ort.Tensor('float32', Float32Array.of(t), []), lr: new ort.Tensor('float32', Float32Array.of(lr), []) };
    SHAPES.forEach((s, i) => {
      feeds[`p${i}`] = tensor(state.p[i], s);
      feeds[`g${i}`] = tensor(gr[i], s);
      feeds[`m${i}`] = tensor(state.m[i], s);
      feeds[`v${i}`] = tensor(state.v[i], s);
    });
    const r = await session.run(feeds);
    const refNorm = referenceStep(ref.p, gr, ref.m, ref.v, t, Math.fround(lr)); // lr is a float32 input in both graphs
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-3);
    worst = Math.max(worst, rel(Number(r.norm.data[0]), refNorm));
    const read = (name: string) => Float64Array.from(r[name].data as Float32Array | Float64Array);
    state = { p: SHAPES.map((_, i) => read(`new_p${i}`)), m: SHAPES.map((_, i) => read(`new_m${i}`)), v: SHAPES.map((_, i) => read(`new_v${i}`)) };
    for (const key of ['p', 'm', 'v'] as const) {
      state[key].forEach((x, i) => x.forEach((val, k) => (worst = Math.max(worst, rel(val, ref[key][i][k])))));
    }
  }
  await session.release();
  return worst;
}

describe('optimizer', () => {
  it('clip + AdamW match the TypeScript reference over 3 steps (float64)', async () => {
    expect(await run('float64')).toBeLessThan(1e-12);
  });
  it('and in float32, the training dtype', async () => {
    expect(await run('float32')).toBeLessThan(1e-5);
  });
});

describe('optimizer on a flat vector (the step graph layout)', () => {
  it('decays only the prefix, and leaves gradients unclipped when the max norm is 0', async () => {
    const N = 7;
    const PREFIX = 4; // LoRA values first, then token rows, which are never decayed
    const g = new GraphBuilder('adamw-flat');
    const p = g.input('p', 'float64', [N]);
    const gr = g.input('g', 'float64', [N]);
    const m = g.input('m', 'float64', [N]);
    const v = g.input('v', 'float64', [N]);
    const step = g.input('step', 'float32', []);
    const lr = g.input('lr', 'float32', []);
    const { clipped, norm } = clipByGlobalNorm(g, [gr], 0);
    expect(clipped[0]).toBe(gr);
    const out = adamW(g, [p], clipped, { m: [m], v: [v] }, step, lr, { ...HP, decayedPrefix: [PREFIX] });
    g.output(norm, 'norm');
    g.output(out.newParams[0], 'new_p');
    const session = await ort.InferenceSession.create(serializeGraph(g).model);
    const rand = rng(5);
    const x = { p: sample(rand, N), g: sample(rand, N).map((z) => z * 10), m: sample(rand, N).map((z) => z * 0.1), v: sample(rand, N).map((z) => z * z) };
    const t = 3;
    const rate = Math.fround(0.02);
    const r = await session.run({
      p: new ort.Tensor('float64', x.p, [N]), g: new ort.Tensor('float64', x.g, [N]), m: new ort.Tensor('float64', x.m, [N]), v: new ort.Tensor('float64', x.v, [N]),
      step: new ort.Tensor('float32', Float32Array.of(t), []), lr: new ort.Tensor('float32', Float32Array.of(rate), []),
    });
    await session.release();
    expect(Number(r.norm.data[0])).toBeCloseTo(Math.sqrt(x.g.reduce((s, z) => s + z * z, 0)), 10);
    const got = r.new_p.data as Float64Array;
    for (let k = 0; k < N; k++) {
      const mk = HP.beta1 * x.m[k] + (1 - HP.beta1) * x.g[k];
      const vk = HP.beta2 * x.v[k] + (1 - HP.beta2) * x.g[k] ** 2;
      const decay = k < PREFIX ? 1 - rate * HP.weightDecay : 1;
      const want = x.p[k] * decay - (rate / (1 - HP.beta1 ** t)) * mk / (Math.sqrt(vk) / Math.sqrt(1 - HP.beta2 ** t) + HP.eps);
      expect(Math.abs(got[k] - want), `element ${k}`).toBeLessThan(1e-12);
    }
  });
});
