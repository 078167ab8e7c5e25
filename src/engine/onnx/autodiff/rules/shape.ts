/**
 * Data-movement ops: Reshape, Transpose, Unsqueeze, Squeeze, Expand, Concat, Split, Slice,
 * Gather, Where. Their gradients move the output gradient back to where each element came from.
 * Symbolic dims ('batch', 'seq') are handled with Shape ops at run time.
 */
import type { GraphBuilder } from '../../builder.js';
import { attr, type Value } from '../../graph.js';
import { normAxis } from '../../shape.js';
import { isStatic, noGrad, rank, reshapeLike, shapeVector, zerosLike, type GradRule, type VjpContext } from '../rule.js';

export const shapeRules: GradRule[] = [
  // y = reshape(x, shape)
  {
    name: 'Reshape',
    vjp: ({ g, inputs: [x], dy }) => [reshapeLike(g, dy, x!, 'dx'), null],
    cases: [
      { shapes: [[2, 3, 4]], emit: (g, [x]) => g.reshape(x, [6, 4]) },
      { label: 'symbolic', shapes: [[2, 3, 4]], dims: [['b', 3, 4]], emit: (g, [x]) => g.reshape(x, ['b', 12]) },
    ],
  },
  // y = transpose(x, perm)
  {
    name: 'Transpose',
    vjp: (ctx) => {
      const { g, inputs: [x], dy } = ctx;
      const perm = ctx.attrInts('perm') ?? [...Array(rank(x!)).keys()].reverse();
      const inv = perm.map((_, i) => perm.indexOf(i));
      return [g.transpose(dy, inv, 'dx')];
    },
    cases: [
      { shapes: [[2, 3, 4]], emit: (g, [x]) => g.transpose(x, [1, 2, 0]) },
      { label: 'default perm', shapes: [[2, 3, 4]], emit: (g, [x]) => g.op('Transpose', [x], {}, { outputs: [{ dtype: x.dtype, shape: [4, 3, 2] }] })[0] },
    ],
  },
  // y = unsqueeze(x, axes)
  {
    name: 'Unsqueeze',
    vjp: (ctx) => [ctx.g.squeeze(ctx.dy, ctx.constInts(1)!, 'dx'), ...noGrad(ctx, 1)],
    cases: [{ shapes: [[3, 4]], emit: (g, [x]) => g.unsqueeze(x, [0, -1]) }],
  },
  // y = squeeze(x, axes)
  {
    name: 'Squeeze',
    vjp: (ctx) => {
      const axes = ctx.constInts(1);
      const x = ctx.inputs[0]!;
      return [axes ? ctx.g.unsqueeze(ctx.dy, axes, 'dx') : reshapeLike(ctx.g, ctx.dy, x, 'dx'), ...noGrad(ctx, 1)];
    },
    cases: [
      { shapes: [[3, 1, 4, 1]], emit: (g, [x]) => g.squeeze(x, [1, -1]) },
      { label: 'all unit axes', shapes: [[3, 1, 4]], emit: (g, [x]) => g.op('Squeeze', [x], {}, { outputs: [{ dtype: x.dtype, shape: [3, 4] }] })[0] },
    ],
  },
  // y = expand(x, shape): a broadcast, which the driver reduces
  {
    name: 'Expand',
    vjp: ({ dy }) => [dy, null],
    cases: [
      { shapes: [[3, 1]], emit: (g, [x]) => g.expand(x, g.ints([2, 3, 4]), [2, 3, 4]) },
      { shapes: [[]], emit: (g, [x]) => g.expand(x, g.ints([3, 2]), [3, 2]) },
    ],
  },
  // y = concat(xs, axis): split the gradient at the same offsets
  {
    name: 'Concat',
    vjp: (ctx) => {
      const { g, inputs, dy } = ctx;
      const xs = inputs as Value[];
      const axis = normAxis(ctx.attrInt('axis', 0), rank(xs[0]));
      const sizes = xs.map((x) => x.shape![axis]);
      const split = sizes.every((d) => typeof d === 'number')
        ? g.ints(sizes as number[])
        : g.concat(xs.map((x, i) => g.shapeOf(x, axis, axis + 1, `size${i}`)), 0, 'split_sizes');
      return g.op('Split', [dy, split], { axis: attr.int(axis) }, { name: 'dx', outputs: xs.map((x) => ({ dtype: dy.dtype, shape: x.shape })) });
    },
    cases: [
      { shapes: [[2, 3], [2, 1], [2, 4]], emit: (g, xs) => g.concat(xs, 1) },
      { label: 'symbolic axis', shapes: [[2, 3], [1, 3]], dims: [['n', 3], ['m', 3]], emit: (g, xs) => g.concat(xs, 0) },
      { label: 'same input twice', shapes: [[2, 3]], emit: (g, [x]) => g.concat([x, g.mul(x, x), x], -1) },
    ],
  },
  // ys = split(x, sizes, axis): concatenate the output gradients (zeros for unused outputs)
  {
    name: 'Split',
    vjp: (ctx) => {
      const { g, outputs, dys } = ctx;
      const axis = ctx.attrInt('axis', 0);
      const parts = outputs.map((o, i) => dys[i] ?? zerosLike(g, o, `zeros${i}`));
      return [g.concat(parts, axis, 'dx'), ...noGrad(ctx, 1)];
    },
    cases: [
      {
        label: 'one output unused',
        shapes: [[2, 6]],
        emit: (g, [x]) => {
          const outs = g.op('Split', [x, g.ints([1, 2, 3])], { axis: attr.int(1) }, {
            outputs: [1, 2, 3].map((n) => ({ dtype: x.dtype, shape: [2, n] })),
          });
          return g.add(g.reduceSum(outs[0], [1]), g.mul(outs[2], outs[2]));
        },
      },
    ],
  },
  // y = x[starts:ends:steps] along axes
  { name: 'Slice', vjp: sliceVjp, cases: sliceCases() },
  // y = take(data, indices, axis): scatter-add the gradient back into zeros (repeated rows add up)
  { name: 'Gather', vjp: gatherVjp, cases: gatherCases() },
  // y = data with y[indices] = updates (no reduction): the scattered slots take their gradient
  // from dy (GatherND), the rest of data keeps it; indices are not differentiable.
  {
    name: 'ScatterND',
    vjp: ({ g, inputs: [data, indices, updates], dy, needs }) => {
      const dUpdates = needs(2) ? g.op('GatherND', [dy, indices!], {}, { name: 'dupdates', outputs: [{ dtype: dy.dtype, shape: updates!.shape }] })[0] : null;
      const dData = needs(0)
        ? g.op('ScatterND', [dy, indices!, zerosLike(g, updates!, 'zero_updates')], {}, { name: 'ddata', outputs: [{ dtype: dy.dtype, shape: data!.shape }] })[0]
        : null;
      return [dData, null, dUpdates];
    },
    cases: [
      {
        label: 'rows of a table',
        shapes: [[5, 3], [2, 3]],
        emit: (g, [data, updates]) => g.op('ScatterND', [data, g.constant('int64', [2, 1], [3n, 1n]), updates], {}, { outputs: [{ dtype: data.dtype, shape: data.shape }] })[0],
      },
    ],
  },
  // y = cond ? a : b   (cond is not differentiable)
  {
    name: 'Where',
    vjp: ({ g, inputs: [c, a, b], dy, needs }) => {
      const zero = g.scalar(0, dy.dtype);
      return [null, needs(1) ? g.where(c!, dy, zero, 'da') : null, needs(2) ? g.where(c!, zero, dy, 'db') : null];
    },
    cases: [
      { shapes: [[3, 4], [3, 4]], emit: (g, [a, b]) => g.where(g.greater(a, b), a, b) },
      { label: 'broadcast', shapes: [[4], [3, 1]], emit: (g, [a, b]) => g.where(g.greater(g.mul(a, b), g.scalar(0, a.dtype)), a, b) },
      { label: 'scalar branch', shapes: [[3, 4], []], emit: (g, [a, b]) => g.where(g.less(a, g.scalar(0.3, a.dtype)), a, b) },
    ],
  },
];

// ---------------------------------------------------------------- Slice

const BIG = 2 ** 31;

/**
 * Step 1: pad the gradient back to the input's extent (Pad with zeros), computing the pads
 * with Shape ops where the sliced dim is symbolic. Other steps (static dims only): scatter the
 * gradient along that axis with a constant 0/1 selection matrix, which also covers negative steps.
 */
function sliceVjp(ctx: VjpContext): (Value | null)[] {
  const { g, dy } = ctx;
  const x = ctx.inputs[0]!;
  const r = rank(x);
  const starts = ctx.constInts(1)!;
  const ends = ctx.constInts(2)!;
  const axes = (ctx.constInts(3) ?? starts.map((_, i) => i)).map((a) => normAxis(a, r));
  const steps = ctx.constInts(4) ?? starts.map(() => 1);
  const before: (number | Value)[] = Array(r).fill(0);
  const after: (number | Value)[] = Array(r).fill(0);
  let grad = dy;
  axes.forEach((ax, i) => {
    const dim = x.shape![ax];
    if (steps[i] !== 1) {
      if (typeof dim !== 'number') throw new Error(`Slice ${ctx.node.name}: a step of ${steps[i]} over symbolic dim ${dim} has no gradient rule`);
      grad = scatterAlongAxis(g, grad, ax, dim, slicePositions(dim, starts[i], ends[i], steps[i]));
      return;
    }
    if (typeof dim === 'number') {
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
      const s = clamp(starts[i]);
      before[ax] = s;
      after[ax] = dim - Math.max(clamp(ends[i]), s);
      return;
    }
    // Symbolic dim: start >= 0 is the pad before; negative starts count from the run-time end.
    const dimV = g.shapeOf(x, ax, ax + 1, `dim${ax}`);
    const startV = starts[i] >= 0 ? g.ints([starts[i]]) : g.max(g.add(dimV, g.ints([starts[i]]), `start${ax}`), g.ints([0]), `start${ax}_c`);
    before[ax] = starts[i] >= 0 ? starts[i] : startV;
    after[ax] = starts[i] >= 0 && ends[i] >= BIG - 1
      ? 0
      : g.sub(g.sub(dimV, startV, `rest${ax}`), g.shapeOf(dy, ax, ax + 1, `len${ax}`), `after${ax}`);
  });
  const pads = [...before, ...after];
  if (pads.every((p) => p === 0)) return [grad, ...noGrad(ctx, 1)];
  const padsV = pads.every((p) => typeof p === 'number')
    ? g.ints(pads as number[])
    : g.concat(pads.map((p) => (typeof p === 'number' ? g.ints([p]) : p)), 0, 'pads');
  const dx = g.op('Pad', [grad, padsV], {}, { name: 'dx', outputs: [{ dtype: dy.dtype, shape: x.shape }] })[0];
  return [dx, ...noGrad(ctx, 1)];
}

/** Indices a Slice with these parameters reads along a dim of size `dim` (ONNX semantics). */
export function slicePositions(dim: number, start: number, end: number, step: number): number[] {
  const out: number[] = [];
  if (step > 0) {
    const s = Math.min(Math.max(start < 0 ? start + dim : start, 0), dim);
    const e = Math.min(Math.max(end < 0 ? end + dim : end, 0), dim);
    for (let i = s; i < e; i += step) out.push(i);
  } else {
    const s = Math.min(Math.max(start < 0 ? start + dim : start, 0), dim - 1);
    const e = Math.min(Math.max(end < 0 ? end + dim : end, -1), dim - 1);
    for (let i = s; i > e; i += step) out.push(i);
  }
  return out;
}

/** grad[..., positions[j], ...] += dy[..., j, ...] along `axis`, via dy @ E with E[j, positions[j]] = 1. */
function scatterAlongAxis(g: GraphBuilder, dy: Value, axis: number, dim: number, positions: number[]): Value {
  const e = new Array<number>(positions.length * dim).fill(0);
  positions.forEach((p, j) => (e[j * dim + p] = 1));
  const sel = g.constant(dy.dtype, [positions.length, dim], e, 'slice_select');
  const r = rank(dy);
  const perm = [...Array(r).keys()];
  [perm[axis], perm[r - 1]] = [perm[r - 1], perm[axis]];
  const moved = axis === r - 1 ? dy : g.transpose(dy, perm, `dy_axis${axis}_last`);
  const spread = g.matMul(moved, sel, `spread${axis}`);
  return axis === r - 1 ? spread : g.transpose(spread, perm, `spread${axis}_back`);
}

function sliceCases() {
  const cases: { label: string; shapes: number[][]; dims?: (number | string)[][]; emit: (g: GraphBuilder, xs: Value[]) => Value }[] = [
    { label: 'two axes', shapes: [[4, 5, 3]], emit: (g, [x]) => g.slice(x, [1, 0], [3, -1], [0, 1]) },
    { label: 'negative start, open end', shapes: [[4, 6]], emit: (g, [x]) => g.slice(x, [-2], [BIG], [1]) },
    { label: 'step 2', shapes: [[4, 7]], emit: (g, [x]) => g.slice(x, [1], [7], [1], 'slice', [2]) },
    { label: 'negative step', shapes: [[5, 3]], emit: (g, [x]) => g.slice(x, [-1], [-BIG], [0], 'slice', [-2]) },
    { label: 'halves (rope swap)', shapes: [[2, 3, 8]], emit: (g, [x]) => g.concat([g.neg(g.slice(x, [4], [8], [-1])), g.slice(x, [0], [4], [-1])], -1) },
    { label: 'symbolic dim, open end', shapes: [[2, 5, 3]], dims: [['b', 't', 3]], emit: (g, [x]) => g.slice(x, [1], [BIG], [1]) },
    { label: 'symbolic dim, negative', shapes: [[2, 5, 3]], dims: [['b', 't', 3]], emit: (g, [x]) => g.slice(x, [-3, 1], [-1, 3], [1, 2]) },
  ];
  return cases;
}

// ---------------------------------------------------------------- Gather

/**
 * dData = ScatterND(zeros(data), indices[..., None], dY, reduction='add') with the gathered axis
 * moved first. Negative indices are wrapped first. `indices` gets no gradient.
 */
function gatherVjp(ctx: VjpContext): (Value | null)[] {
  const { g, dy } = ctx;
  const [data, indices] = ctx.inputs as Value[];
  if (!ctx.needs(0)) return [null, null];
  const r = rank(data);
  const q = rank(indices);
  const axis = normAxis(ctx.attrInt('axis', 0), r);
  // Move the gathered axis (and so the index dims of dY) to the front.
  const dataPerm = [axis, ...[...Array(r).keys()].filter((i) => i !== axis)];
  const dyPerm = [...Array(q).keys()].map((i) => axis + i);
  for (let i = 0; i < axis; i++) dyPerm.push(i);
  for (let i = axis + q; i < r - 1 + q; i++) dyPerm.push(i);
  const updates = axis === 0 ? dy : g.transpose(dy, dyPerm, 'dy_index_first');
  const dimV = g.shapeOf(data, axis, axis + 1, 'axis_dim');
  const wrapped = g.where(
    g.less(indices, g.scalar(0, indices.dtype), 'negative'),
    g.add(indices, indices.dtype === 'int64' ? g.reshape(dimV, []) : g.cast(g.reshape(dimV, []), indices.dtype), 'wrapped'),
    indices,
    'indices_pos',
  );
  const idx = g.unsqueeze(indices.dtype === 'int64' ? wrapped : g.cast(wrapped, 'int64'), [-1], 'scatter_indices');
  const permShape = data.shape ? dataPerm.map((p) => data.shape![p]) : null;
  const zerosShape = isStatic(permShape) ? g.ints(permShape) : g.gather(shapeVector(g, data), g.ints(dataPerm), 0, 'zeros_shape');
  const zeros = g.expand(g.scalar(0, dy.dtype), zerosShape, permShape, 'zeros');
  const scattered = g.op('ScatterND', [zeros, idx, updates], { reduction: attr.string('add') }, {
    name: 'scatter',
    outputs: [{ dtype: dy.dtype, shape: permShape }],
  })[0];
  const inv = dataPerm.map((_, i) => dataPerm.indexOf(i));
  return [axis === 0 ? scattered : g.transpose(scattered, inv, 'dx'), null];
}

function gatherCases() {
  const idx = (g: GraphBuilder, dims: number[], values: number[]) => g.constant('int64', dims, values, 'idx');
  const cases: { label: string; shapes: number[][]; dims?: (number | string)[][]; emit: (g: GraphBuilder, xs: Value[]) => Value }[] = [
    { label: 'embedding rows, repeated', shapes: [[5, 3]], emit: (g, [x]) => g.gather(x, idx(g, [2, 3], [1, 4, 1, 0, 1, 4]), 0) },
    { label: 'negative indices', shapes: [[5, 3]], emit: (g, [x]) => g.gather(x, idx(g, [3], [-1, 0, 4]), 0) },
    { label: 'middle axis', shapes: [[2, 4, 3]], emit: (g, [x]) => g.gather(x, idx(g, [2, 2], [3, 0, 3, 3]), 1) },
    { label: 'last axis, scalar index', shapes: [[2, 4, 3]], emit: (g, [x]) => g.gather(x, idx(g, [], [2]), -1) },
    { label: 'symbolic vocab', shapes: [[6, 2]], dims: [['v', 2]], emit: (g, [x]) => g.gather(x, idx(g, [4], [5, 0, 5, 2]), 0) },
  ];
  return cases;
}
