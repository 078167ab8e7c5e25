/**
 * Typed ONNX op helpers with shape rules: `g.matMul(x, w)`, `g.reshape(x, [0, 0, H, hd])`.
 * Model code and the autodiff rules both build through this class, so every value has a
 * dtype and, where it can be known, a shape.
 */
import { Graph, attr, type AttrValue, type Value } from './graph.js';
import { broadcastShapes, normAxis, numel, type Dim, type Shape } from './shape.js';
import { ONNX_DTYPE_CODE, type DType } from './dtype.js';
import type { DeviceName } from '../../shared/devices.js';
import { silu } from './autodiff/rules/activation.js';
import { rmsNorm } from './autodiff/rules/norm.js';

type Axes = number[];

export type GraphDevice = DeviceName;

/** Standard ops a provider has no kernel for (checked by node placement in ORT's verbose log). */
const OPS_MISSING: Partial<Record<GraphDevice, ReadonlySet<string>>> = {
  webgpu: new Set(['Sum', 'LogSoftmax']),
};

export class GraphBuilder extends Graph {
  /**
   * Inference-only graphs may use fused ops that ONNX Runtime's CPU build has but that have no
   * gradient rule here (e.g. SimplifiedLayerNormalization): fewer nodes per token when decoding.
   */
  inferenceOnly = false;

  /**
   * The execution provider the graph is for. A few standard ops have no kernel on some GPU
   * providers and would run on the CPU there, with copies each way: ORT's WebGPU provider has no
   * `Sum` and no `LogSoftmax`. Those are then spelled with ops it has (see `sum`, `logSoftmax`).
   */
  device: GraphDevice = 'cpu';

  private lacks(op: string): boolean {
    return OPS_MISSING[this.device]?.has(op) ?? false;
  }

  // ---------------------------------------------------------------- elementwise
  add(a: Value, b: Value, name = 'add') { return this.op('Add', [a, b], {}, { name })[0]; }
  sub(a: Value, b: Value, name = 'sub') { return this.op('Sub', [a, b], {}, { name })[0]; }
  mul(a: Value, b: Value, name = 'mul') { return this.op('Mul', [a, b], {}, { name })[0]; }
  div(a: Value, b: Value, name = 'div') { return this.op('Div', [a, b], {}, { name })[0]; }
  pow(a: Value, b: Value, name = 'pow') { return this.op('Pow', [a, b], {}, { name })[0]; }
  max(a: Value, b: Value, name = 'max') { return this.op('Max', [a, b], {}, { name })[0]; }
  neg(a: Value, name = 'neg') { return this.op('Neg', [a], {}, { name })[0]; }
  exp(a: Value, name = 'exp') { return this.op('Exp', [a], {}, { name })[0]; }
  log(a: Value, name = 'log') { return this.op('Log', [a], {}, { name })[0]; }
  sqrt(a: Value, name = 'sqrt') { return this.op('Sqrt', [a], {}, { name })[0]; }
  reciprocal(a: Value, name = 'reciprocal') { return this.op('Reciprocal', [a], {}, { name })[0]; }
  sigmoid(a: Value, name = 'sigmoid') { return this.op('Sigmoid', [a], {}, { name })[0]; }
  cos(a: Value, name = 'cos') { return this.op('Cos', [a], {}, { name })[0]; }
  sin(a: Value, name = 'sin') { return this.op('Sin', [a], {}, { name })[0]; }
  identity(a: Value, name = 'identity') { return this.op('Identity', [a], {}, { name })[0]; }

  /** x * sigmoid(x), a composite with a fused gradient (autodiff/rules/activation.ts). */
  silu(x: Value, name = 'silu') { return silu(this, x, name); }

  // ---------------------------------------------------------------- comparisons and selection
  private compare(op: string, a: Value, b: Value, name: string) {
    const shape = a.shape && b.shape ? broadcastShapes(a.shape, b.shape) : null;
    return this.op(op, [a, b], {}, { name, outputs: [{ dtype: 'bool', shape }] })[0];
  }
  greater(a: Value, b: Value, name = 'greater') { return this.compare('Greater', a, b, name); }
  less(a: Value, b: Value, name = 'less') { return this.compare('Less', a, b, name); }
  equal(a: Value, b: Value, name = 'equal') { return this.compare('Equal', a, b, name); }

  where(cond: Value, a: Value, b: Value, name = 'where') {
    const shape = cond.shape && a.shape && b.shape ? broadcastShapes(broadcastShapes(cond.shape, a.shape), b.shape) : null;
    return this.op('Where', [cond, a, b], {}, { name, outputs: [{ dtype: a.dtype, shape }] })[0];
  }

  cast(x: Value, to: DType, name = 'cast') {
    return this.op('Cast', [x], { to: attr.int(ONNX_DTYPE_CODE[to]) }, { name, outputs: [{ dtype: to, shape: x.shape }] })[0];
  }

  // ---------------------------------------------------------------- linear algebra
  matMul(a: Value, b: Value, name = 'matmul') {
    return this.op('MatMul', [a, b], {}, { name, outputs: [{ dtype: a.dtype, shape: matMulShape(a.shape, b.shape) }] })[0];
  }

  /** Y = alpha * op(A) op(B) + beta * C, with A and B 2-D. */
  gemm(
    a: Value,
    b: Value,
    opts: { c?: Value; transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {},
    name = 'gemm',
  ) {
    const attrs: Record<string, AttrValue> = {};
    if (opts.transA) attrs.transA = attr.int(1);
    if (opts.transB) attrs.transB = attr.int(1);
    if (opts.alpha !== undefined && opts.alpha !== 1) attrs.alpha = attr.float(opts.alpha);
    if (opts.beta !== undefined && opts.beta !== 1) attrs.beta = attr.float(opts.beta);
    let shape: Shape | null = null;
    if (a.shape && b.shape) {
      if (a.shape.length !== 2 || b.shape.length !== 2) throw new Error(`Gemm ${name}: inputs must be 2-D, got [${a.shape}] and [${b.shape}]`);
      const m = opts.transA ? a.shape[1] : a.shape[0];
      const n = opts.transB ? b.shape[0] : b.shape[1];
      shape = [m, n];
    }
    const inputs = opts.c ? [a, b, opts.c] : [a, b];
    return this.op('Gemm', inputs, attrs, { name, outputs: [{ dtype: a.dtype, shape }] })[0];
  }

  // ---------------------------------------------------------------- shape ops

  /**
   * Reshape to a static target. Symbolic dims in `target` must either equal the input's dim
   * at the same position (emitted as 0 = copy) or be the single dim to infer (emitted as -1).
   */
  reshape(x: Value, target: Dim[], name = 'reshape') {
    const spec: number[] = [];
    let inferred = 0;
    target.forEach((d, i) => {
      if (typeof d === 'number') spec.push(d);
      else if (x.shape && x.shape[i] === d) spec.push(0);
      else {
        spec.push(-1);
        inferred++;
      }
    });
    if (inferred > 1) throw new Error(`Reshape ${name}: more than one dim to infer in [${target}] from [${x.shape}]`);
    return this.op('Reshape', [x, this.ints(spec)], {}, { name, outputs: [{ dtype: x.dtype, shape: target }] })[0];
  }

  /** Reshape to a shape computed at run time, with the build-time shape given by the caller. */
  reshapeTo(x: Value, shapeValue: Value, resultShape: Shape, name = 'reshape') {
    return this.op('Reshape', [x, shapeValue], {}, { name, outputs: [{ dtype: x.dtype, shape: resultShape }] })[0];
  }

  transpose(x: Value, perm: number[], name = 'transpose') {
    const shape = x.shape ? perm.map((p) => x.shape![p]) : null;
    return this.op('Transpose', [x], { perm: attr.ints(perm) }, { name, outputs: [{ dtype: x.dtype, shape }] })[0];
  }

  concat(xs: Value[], axis: number, name = 'concat') {
    let shape: Shape | null = null;
    if (xs.every((x) => x.shape)) {
      const rank = xs[0].shape!.length;
      const ax = normAxis(axis, rank);
      shape = [...xs[0].shape!];
      const parts = xs.map((x) => x.shape![ax]);
      shape[ax] = parts.every((p) => typeof p === 'number') ? (parts as number[]).reduce((s, p) => s + p, 0) : parts.filter((p) => p !== 0).join('+');
    }
    return this.op('Concat', xs, { axis: attr.int(axis) }, { name, outputs: [{ dtype: xs[0].dtype, shape }] })[0];
  }

  /** Static slice along axes with known sizes. */
  slice(x: Value, starts: number[], ends: number[], axes: number[], name = 'slice', steps?: number[]) {
    let shape: Shape | null = null;
    if (x.shape) {
      shape = [...x.shape];
      axes.forEach((a, i) => {
        const ax = normAxis(a, x.shape!.length);
        const size = x.shape![ax];
        const step = steps?.[i] ?? 1;
        if (typeof size !== 'number') {
          shape![ax] = `${size}[${starts[i]}:${ends[i]}]`;
          return;
        }
        // ONNX clamps starts to [0, size] ([0, size-1] for negative steps) and ends to [0, size] ([-1, size-1]).
        const lo = step > 0 ? 0 : -1;
        const hi = step > 0 ? size : size - 1;
        const clamp = (v: number, min: number) => Math.min(Math.max(v < 0 ? v + size : v, min), hi);
        shape![ax] = Math.max(0, Math.ceil((clamp(ends[i], lo) - clamp(starts[i], 0)) / step));
      });
    }
    const inputs = [x, this.ints(starts), this.ints(ends), this.ints(axes)];
    if (steps) inputs.push(this.ints(steps));
    return this.op('Slice', inputs, {}, { name, outputs: [{ dtype: x.dtype, shape }] })[0];
  }

  gather(data: Value, indices: Value, axis = 0, name = 'gather') {
    let shape: Shape | null = null;
    if (data.shape && indices.shape) {
      const ax = normAxis(axis, data.shape.length);
      shape = [...data.shape.slice(0, ax), ...indices.shape, ...data.shape.slice(ax + 1)];
    }
    return this.op('Gather', [data, indices], { axis: attr.int(axis) }, { name, outputs: [{ dtype: data.dtype, shape }] })[0];
  }

  unsqueeze(x: Value, axes: Axes, name = 'unsqueeze') {
    let shape: Shape | null = null;
    if (x.shape) {
      const rank = x.shape.length + axes.length;
      const norm = axes.map((a) => normAxis(a, rank)).sort((p, q) => p - q);
      shape = [...x.shape];
      for (const a of norm) shape.splice(a, 0, 1);
    }
    return this.op('Unsqueeze', [x, this.ints(axes)], {}, { name, outputs: [{ dtype: x.dtype, shape }] })[0];
  }

  squeeze(x: Value, axes: Axes, name = 'squeeze') {
    let shape: Shape | null = null;
    if (x.shape) {
      const norm = new Set(axes.map((a) => normAxis(a, x.shape!.length)));
      shape = x.shape.filter((_, i) => !norm.has(i));
    }
    return this.op('Squeeze', [x, this.ints(axes)], {}, { name, outputs: [{ dtype: x.dtype, shape }] })[0];
  }

  expand(x: Value, shapeValue: Value, resultShape: Shape | null, name = 'expand') {
    return this.op('Expand', [x, shapeValue], {}, { name, outputs: [{ dtype: x.dtype, shape: resultShape }] })[0];
  }

  /** Shape(x)[start:end] as an int64 tensor. */
  shapeOf(x: Value, start?: number, end?: number, name = 'shape') {
    const attrs: Record<string, AttrValue> = {};
    if (start !== undefined) attrs.start = attr.int(start);
    if (end !== undefined) attrs.end = attr.int(end);
    const rank = x.shape?.length ?? null;
    let len: number | string = 'rank';
    if (rank !== null) len = Math.max(0, (end ?? rank) < 0 ? (end ?? rank) + rank : Math.min(end ?? rank, rank)) - ((start ?? 0) < 0 ? (start ?? 0) + rank : start ?? 0);
    return this.op('Shape', [x], attrs, { name, outputs: [{ dtype: 'int64', shape: [len] }] })[0];
  }

  range(start: Value, limit: Value, delta: Value, length: Dim, name = 'range') {
    return this.op('Range', [start, limit, delta], {}, { name, outputs: [{ dtype: start.dtype, shape: [length] }] })[0];
  }

  // ---------------------------------------------------------------- reductions and softmax
  private reduce(op: string, x: Value, axes: Axes, keepdims: boolean, name: string) {
    let shape: Shape | null = null;
    if (x.shape) {
      const norm = new Set(axes.map((a) => normAxis(a, x.shape!.length)));
      shape = keepdims ? x.shape.map((d, i) => (norm.has(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.has(i));
    }
    return this.op(op, [x, this.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0) }, { name, outputs: [{ dtype: x.dtype, shape }] })[0];
  }
  reduceSum(x: Value, axes: Axes, keepdims = true, name = 'reduce_sum') { return this.reduce('ReduceSum', x, axes, keepdims, name); }
  reduceMin(x: Value, axes: Axes, keepdims = true, name = 'reduce_min') { return this.reduce('ReduceMin', x, axes, keepdims, name); }
  reduceMean(x: Value, axes: Axes, keepdims = true, name = 'reduce_mean') {
    // ReduceMean takes axes as an input only from opset 18; ours is 21.
    return this.reduce('ReduceMean', x, axes, keepdims, name);
  }
  reduceMax(x: Value, axes: Axes, keepdims = true, name = 'reduce_max') { return this.reduce('ReduceMax', x, axes, keepdims, name); }

  softmax(x: Value, axis = -1, name = 'softmax') {
    return this.op('Softmax', [x], { axis: attr.int(axis) }, { name })[0];
  }
  logSoftmax(x: Value, axis = -1, name = 'log_softmax') {
    if (this.lacks('LogSoftmax')) {
      // x - max - log(sum(exp(x - max))): the same value, stable for any logit range.
      return this.scope(name, () => {
        const shifted = this.sub(x, this.reduceMax(x, [axis], true, 'max'), 'shifted');
        const lse = this.log(this.reduceSum(this.exp(shifted, 'exp'), [axis], true, 'sum_exp'), 'lse');
        return this.sub(shifted, lse, 'out');
      });
    }
    return this.op('LogSoftmax', [x], { axis: attr.int(axis) }, { name })[0];
  }

  /** Elementwise sum of same-shaped values: one `Sum` node, or a tree of `Add`s where Sum is missing. */
  sum(parts: Value[], name = 'sum') {
    if (parts.length === 0) throw new Error('sum: no values');
    if (parts.length === 1) return parts[0];
    if (parts.length === 2) return this.add(parts[0], parts[1], name);
    if (this.lacks('Sum')) {
      let level = parts;
      while (level.length > 1) {
        const next: Value[] = [];
        for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? this.add(level[i], level[i + 1], name) : level[i]);
        level = next;
      }
      return level[0];
    }
    return this.op('Sum', parts, {}, { name, outputs: [{ dtype: parts[0].dtype, shape: parts[0].shape }] })[0];
  }

  // ---------------------------------------------------------------- composites used by models

  /** RMSNorm over the last axis, a composite with a fused gradient (autodiff/rules/norm.ts). */
  rmsNorm(x: Value, weight: Value, eps: number, name = 'rms_norm') { return rmsNorm(this, x, weight, eps, name); }

  numel(x: Value): number | null {
    return x.shape ? numel(x.shape) : null;
  }
}

function matMulShape(a: Shape | null, b: Shape | null): Shape | null {
  if (!a || !b) return null;
  if (a.length < 2 || b.length < 2) throw new Error(`MatMul: 1-D operands are not used here ([${a}] x [${b}])`);
  const batch = broadcastShapes(a.slice(0, -2), b.slice(0, -2));
  const k1 = a[a.length - 1];
  const k2 = b[b.length - 2];
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) throw new Error(`MatMul: inner dims differ ([${a}] x [${b}])`);
  return [...batch, a[a.length - 2], b[b.length - 1]];
}
