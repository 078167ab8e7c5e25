/**
 * Reductions and the softmax family. Reductions spread the gradient back over the reduced axes
 * with Expand; Softmax uses the "D trick": dX = P ⊙ (dP − rowsum(dP ⊙ P)).
 */
import type { GraphBuilder } from '../../builder.js';
import { attr, type Value } from '../../graph.js';
import { normAxis, numel } from '../../shape.js';
import { noGrad, rank, shapeVector, type GradRule, type VjpContext } from '../rule.js';

export const reduceRules: GradRule[] = [
  // y = sum of x over axes
  {
    name: 'ReduceSum',
    vjp: (ctx) => [spread(ctx, ctx.dy), ...noGrad(ctx, 1)],
    cases: reduceCases('ReduceSum', (g, x, axes, keep) => g.reduceSum(x, axes, keep)),
  },
  // y = mean of x over axes
  {
    name: 'ReduceMean',
    vjp: (ctx) => {
      const { g } = ctx;
      const x = ctx.inputs[0]!;
      const y = ctx.outputs[0];
      const nx = numel(x.shape!);
      const ny = numel(y.shape!);
      const count = nx !== null && ny !== null
        ? g.scalar(nx / Math.max(ny, 1), x.dtype)
        : g.div(g.cast(size(g, x), x.dtype, 'numel_x'), g.cast(size(g, y), x.dtype, 'numel_y'), 'count');
      return [spread(ctx, g.div(ctx.dy, count, 'dy_mean')), ...noGrad(ctx, 1)];
    },
    cases: reduceCases('ReduceMean', (g, x, axes, keep) => g.reduceMean(x, axes, keep)),
  },
  // y = max of x over axes; ties share the gradient evenly
  {
    name: 'ReduceMax',
    vjp: (ctx) => {
      const { g } = ctx;
      const x = ctx.inputs[0]!;
      const axes = reducedAxes(ctx);
      const keep = ctx.attrInt('keepdims', 1) === 1;
      const yKeep = keep ? ctx.outputs[0] : g.unsqueeze(ctx.outputs[0], axes, 'y_keep');
      const dyKeep = keep ? ctx.dy : g.unsqueeze(ctx.dy, axes, 'dy_keep');
      const mask = g.cast(g.equal(x, yKeep, 'is_max'), x.dtype, 'mask');
      const count = g.reduceSum(mask, axes, true, 'ties');
      return [g.mul(mask, g.div(dyKeep, count, 'dy_share'), 'dx'), ...noGrad(ctx, 1)];
    },
    cases: reduceCases('ReduceMax', (g, x, axes, keep) => g.reduceMax(x, axes, keep)),
  },
  // P = softmax(x, axis);  dX = P ⊙ (dP − Σ_axis dP ⊙ P)
  {
    name: 'Softmax',
    vjp: (ctx) => {
      const { g, dy } = ctx;
      const p = ctx.outputs[0];
      const axis = ctx.attrInt('axis', -1);
      const d = g.reduceSum(g.mul(dy, p, 'dy_p'), [axis], true, 'rowsum');
      return [g.mul(p, g.sub(dy, d, 'dy_centered'), 'dx')];
    },
    cases: [
      { shapes: [[3, 5]] },
      { label: 'axis 1 of 3', shapes: [[2, 4, 3]], emit: (g, [x]) => g.softmax(x, 1) },
    ],
  },
  // L = logsoftmax(x, axis);  dX = dL − exp(L) Σ_axis dL
  {
    name: 'LogSoftmax',
    vjp: (ctx) => {
      const { g, dy } = ctx;
      const l = ctx.outputs[0];
      const axis = ctx.attrInt('axis', -1);
      const total = g.reduceSum(dy, [axis], true, 'rowsum');
      return [g.sub(dy, g.mul(g.exp(l, 'p'), total, 'p_total'), 'dx')];
    },
    cases: [
      { shapes: [[3, 5]] },
      { label: 'axis 0', shapes: [[4, 3]], emit: (g, [x]) => g.logSoftmax(x, 0) },
    ],
  },
];

/** The axes a Reduce* node reduced (all axes when none are given and noop_with_empty_axes = 0). */
function reducedAxes(ctx: VjpContext): number[] {
  const x = ctx.inputs[0]!;
  const r = rank(x);
  const given = ctx.constInts(1) ?? ctx.attrInts('axes');
  if (!given || given.length === 0) {
    if (ctx.attrInt('noop_with_empty_axes', 0) === 1) return [];
    return [...Array(r).keys()];
  }
  return given.map((a) => normAxis(a, r)).sort((a, b) => a - b);
}

/** dy (reduced shape) -> dy broadcast over x's shape. */
function spread(ctx: VjpContext, dy: Value): Value {
  const { g } = ctx;
  const x = ctx.inputs[0]!;
  const axes = reducedAxes(ctx);
  const keep = ctx.attrInt('keepdims', 1) === 1;
  const dyKeep = keep || axes.length === 0 ? dy : g.unsqueeze(dy, axes, 'dy_keep');
  return g.expand(dyKeep, shapeVector(g, x), x.shape, 'dx');
}

function size(g: GraphBuilder, v: Value): Value {
  return g.op('Size', [v], {}, { name: `${v.name.split('.').pop()}_size`, outputs: [{ dtype: 'int64', shape: [] }] })[0];
}

function reduceCases(op: string, emit: (g: GraphBuilder, x: Value, axes: number[], keep: boolean) => Value) {
  return [
    { label: 'last axis keepdims', shapes: [[3, 4]], emit: (g: GraphBuilder, [x]: Value[]) => emit(g, x, [-1], true) },
    { label: 'two axes dropped', shapes: [[2, 3, 4]], emit: (g: GraphBuilder, [x]: Value[]) => emit(g, x, [0, 2], false) },
    {
      label: 'all axes (empty axes input)',
      shapes: [[2, 3]],
      emit: (g: GraphBuilder, [x]: Value[]) =>
        g.op(op, [x], { keepdims: attr.int(0) }, { outputs: [{ dtype: x.dtype, shape: [] }] })[0],
    },
    {
      label: 'symbolic dims',
      shapes: [[2, 3, 4]],
      dims: [['b', 't', 4]],
      emit: (g: GraphBuilder, [x]: Value[]) => emit(g, x, [1], false),
    },
  ];
}
