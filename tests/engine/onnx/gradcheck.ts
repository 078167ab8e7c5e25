/**
 * Gradient check in the manner of JAX's check_grads: for random directions d, compare the
 * analytic directional derivative <∇L(x), d> (one forward + backward on ORT CPU) against the
 * central difference (L(x + h d) − L(x − h d)) / 2h (two more forwards).
 *
 * Precision. By default everything runs in float64 on ORT CPU (every op the rules emit has a
 * double kernel there; see probe-f64.ts), with h = 1e-6 and a relative tolerance of 1e-6: the
 * central difference's truncation error is ~h² and its round-off ~1e-16·|L|/h ≈ 1e-10·|L|, so
 * a correct rule lands near 1e-9 and a wrong one is off by O(1).
 * The float32 fallback (for an op without a double kernel, or a case that casts through float32)
 * uses h = 1e-3 and a relative tolerance of 2e-3: round-off is then ~6e-8·|L|/h ≈ 1e-4·|L|.
 *
 * The error is relative to max(|analytic|, |numeric|, Σ|gᵢdᵢ|): a direction that happens to be
 * nearly orthogonal to the gradient must not turn round-off into a failure.
 *
 * Every failure message carries the seed; rerun one case with `gradcheck(..., { seed })`.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/engine/onnx/builder.js';
import type { Value } from '../../../src/engine/onnx/graph.js';
import type { Shape } from '../../../src/engine/onnx/shape.js';
import { serializeGraph } from '../../../src/engine/onnx/serialize.js';
import { seededRandom } from '../../../src/engine/util/random.js';
import { buildBackward, type BackwardOptions } from '../../../src/engine/onnx/autodiff/backward.js';
import type { Domain } from '../../../src/engine/onnx/autodiff/rule.js';

export interface InputSpec {
  shape: number[];
  /** Graph input shape when it differs from `shape` (symbolic dims). */
  dims?: Shape;
  domain?: Domain;
  name?: string;
  /** Fed to the graph but not differentiated or perturbed (activations, frozen inputs). */
  frozen?: boolean;
}

export interface GradcheckOptions {
  seed?: number;
  /** 'float32': graph inputs in float32 or values cast through float32; looser tolerance. */
  precision?: 'float64' | 'float32';
  /** Graph input dtype (default float64; float32 implies precision 'float32'). */
  dtype?: 'float64' | 'float32';
  /** Random directions over all inputs at once (default 2); one more per input follows. */
  directions?: number;
  label?: string;
  backward?: BackwardOptions;
}

export interface DirectionCheck {
  direction: string;
  analytic: number;
  numeric: number;
  relErr: number;
}

export interface GradcheckResult {
  seed: number;
  loss: number;
  checks: DirectionCheck[];
  maxRelErr: number;
  graph: GraphBuilder;
  /** Number of forward nodes: graph.nodes from here on are the backward pass (then output Identities). */
  forwardNodeCount: number;
  grads: Map<string, Value>;
}

export const TOLERANCE = {
  float64: { h: 1e-6, rtol: 1e-6 },
  float32: { h: 1e-3, rtol: 2e-3 },
} as const;

/** A seeded PRNG (mulberry32), so a failing case can be replayed from its seed. */
export const rng = seededRandom;

export function sample(rand: () => number, n: number, domain: Domain = 'real'): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = domain === 'positive' ? 0.5 + 1.5 * rand() : 4 * rand() - 2;
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Builds `build(g, xs)` (a scalar loss) + its backward w.r.t. all inputs, runs it on ORT CPU and
 * checks directional derivatives. Throws (with the seed) when one is off by more than the tolerance.
 */
export async function gradcheck(
  build: (g: GraphBuilder, xs: Value[]) => Value,
  specs: InputSpec[],
  opts: GradcheckOptions = {},
): Promise<GradcheckResult> {
  const seed = opts.seed ?? (Math.random() * 2 ** 31) >>> 0;
  const dtype = opts.dtype ?? 'float64';
  const precision = dtype === 'float32' ? 'float32' : (opts.precision ?? 'float64');
  const { h, rtol } = TOLERANCE[precision];
  const label = `${opts.label ?? 'gradcheck'} (seed ${seed}, ${dtype}${precision !== dtype ? `, ${precision} tolerance` : ''})`;
  const rand = rng(seed);

  const g = new GraphBuilder('gradcheck');
  const xs = specs.map((s, i) => g.input(s.name ?? `x${i}`, dtype, s.dims ?? s.shape));
  const loss = build(g, xs);
  const forwardNodeCount = g.nodes.length;
  const free = specs.flatMap((s, i) => (s.frozen ? [] : [i]));
  const grads = buildBackward(g, loss, free.map((i) => xs[i]), opts.backward);
  g.output(loss, 'loss');
  free.forEach((i) => g.output(grads.get(xs[i].name)!, `grad_${i}`));
  const session = await ort.InferenceSession.create(serializeGraph(g).model);

  const x0 = specs.map((s) => sample(rand, size(s.shape), s.domain));
  const feeds = (values: Float64Array[]) =>
    Object.fromEntries(
      xs.map((x, i) => [x.name, new ort.Tensor(dtype, dtype === 'float64' ? values[i] : Float32Array.from(values[i]), specs[i].shape)]),
    );
  const base = await session.run(feeds(x0));
  const lossValue = Number(base.loss.data[0]);
  const gradData = specs.map((s, i) => {
    if (s.frozen) return new Float64Array(size(s.shape));
    const t = base[`grad_${i}`];
    const dims = Array.from(t.dims);
    if (dims.length !== s.shape.length || dims.some((d, k) => d !== s.shape[k])) {
      throw new Error(`${label}: gradient ${i} has shape [${dims}], input has [${s.shape}]`);
    }
    return Float64Array.from(t.data as Float64Array | Float32Array);
  });
  if (!Number.isFinite(lossValue) || gradData.some((gd) => gd.some((v) => !Number.isFinite(v)))) {
    throw new Error(`${label}: loss or gradient is not finite (loss ${lossValue})`);
  }

  const lossAt = async (values: Float64Array[]) => Number((await session.run(feeds(values))).loss.data[0]);
  const directions: { name: string; d: Float64Array[] }[] = [];
  const direction = (only?: number) =>
    specs.map((s, j) => (!s.frozen && (only === undefined || only === j) ? sample(rand, size(s.shape)) : new Float64Array(size(s.shape))));
  for (let k = 0; k < (opts.directions ?? 2); k++) directions.push({ name: `joint ${k}`, d: direction() });
  if (free.length > 1) free.forEach((i) => directions.push({ name: `input ${i}`, d: direction(i) }));

  const checks: DirectionCheck[] = [];
  for (const { name, d } of directions) {
    const shifted = (sign: number) => x0.map((x, i) => x.map((v, k) => v + sign * h * d[i][k]));
    const numeric = ((await lossAt(shifted(+1))) - (await lossAt(shifted(-1)))) / (2 * h);
    let analytic = 0;
    let magnitude = 0; // Σ|g·d|: the size of the terms before any cancellation in <g, d>
    gradData.forEach((gd, i) =>
      gd.forEach((v, k) => {
        analytic += v * d[i][k];
        magnitude += Math.abs(v * d[i][k]);
      }),
    );
    const floor = (precision === 'float64' ? 1e-8 : 1e-4) * Math.max(1, Math.abs(lossValue));
    const scale = Math.max(Math.abs(analytic), Math.abs(numeric), magnitude, floor);
    checks.push({ direction: name, analytic, numeric, relErr: Math.abs(analytic - numeric) / scale });
  }
  await session.release();
  const worst = checks.reduce((a, b) => (b.relErr > a.relErr ? b : a));
  if (worst.relErr > rtol) {
    const rows = checks.map((c) => `  ${c.direction}: analytic ${c.analytic.toPrecision(12)} numeric ${c.numeric.toPrecision(12)} rel ${c.relErr.toExponential(2)}`);
    throw new Error(`${label}: directional derivative off by ${worst.relErr.toExponential(2)} > ${rtol}\n${rows.join('\n')}`);
  }
  return { seed, loss: lossValue, checks, maxRelErr: worst.relErr, graph: g, forwardNodeCount, grads };
}

/**
 * Turns an op's output into a scalar loss with a non-uniform upstream gradient, so that a rule
 * that mixes up elements (a wrong transpose, a wrong axis) cannot pass: sum(y ⊙ R) with fixed
 * random R when y's shape is static, else sum(y ⊙ (y + 0.37)).
 */
export function weightedSum(g: GraphBuilder, y: Value, rand: () => number): Value {
  const shape = y.shape!;
  const axes = [...shape.keys()];
  if (shape.every((d) => typeof d === 'number')) {
    const r = g.constant(y.dtype, shape as number[], Array.from(sample(rand, size(shape as number[]))), 'weights');
    return g.reduceSum(g.mul(y, r, 'weighted'), axes, false, 'loss_sum');
  }
  return g.reduceSum(g.mul(y, g.add(y, g.scalar(0.37, y.dtype)), 'weighted'), axes, false, 'loss_sum');
}
