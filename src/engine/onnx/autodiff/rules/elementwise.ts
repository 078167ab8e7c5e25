/**
 * Elementwise ops. Each rule returns gradients shaped like the op's output; where an input was
 * broadcast, the driver sums the gradient back down to that input's shape.
 */
import type { GraphBuilder } from '../../builder.js';
import type { Value } from '../../graph.js';
import { BROADCAST_BATTERY, isFloat, type GradRule } from '../rule.js';

const unaryCases = [{ shapes: [[3, 4]] }, { shapes: [[]] }];
const binaryCases = BROADCAST_BATTERY.map((shapes) => ({ shapes }));
const one = (g: GraphBuilder, like: Value) => g.scalar(1, like.dtype);

export const elementwiseRules: GradRule[] = [
  // y = a + b
  { name: 'Add', vjp: ({ dy }) => [dy, dy], cases: binaryCases },
  // y = a - b
  { name: 'Sub', vjp: ({ g, dy, needs }) => [dy, needs(1) ? g.neg(dy, 'db') : null], cases: binaryCases },
  // y = a * b
  {
    name: 'Mul',
    vjp: ({ g, inputs: [a, b], dy, needs }) => [needs(0) ? g.mul(dy, b!, 'da') : null, needs(1) ? g.mul(dy, a!, 'db') : null],
    cases: binaryCases,
  },
  // y = a / b;  db = -dy * y / b
  {
    name: 'Div',
    vjp: ({ g, inputs: [, b], outputs: [y], dy, needs }) => [
      needs(0) ? g.div(dy, b!, 'da') : null,
      needs(1) ? g.neg(g.div(g.mul(dy, y, 'dy_y'), b!, 'dy_y_b'), 'db') : null,
    ],
    domain: ['real', 'positive'],
    cases: binaryCases,
  },
  // y = a ^ b;  da = dy * b * a^(b-1);  db = dy * y * log(a)  (needs a > 0)
  {
    name: 'Pow',
    vjp: ({ g, inputs: [a, b], outputs: [y], dy, needs }) => [
      needs(0) ? g.mul(dy, g.mul(b!, g.pow(a!, g.sub(b!, one(g, b!), 'b_1'), 'a_pow'), 'dpow'), 'da') : null,
      needs(1) ? g.mul(dy, g.mul(y, g.log(a!, 'log_a'), 'y_log_a'), 'db') : null,
    ],
    domain: ['positive', 'real'],
    cases: [
      { label: 'constant exponent', shapes: [[3, 4]], emit: (g, [a]) => g.pow(a, g.scalar(2.5, a.dtype)) },
      { label: 'square', shapes: [[3, 4]], domain: ['real'], emit: (g, [a]) => g.pow(a, g.scalar(2, a.dtype)) },
      { label: 'tensor exponent', shapes: [[3, 4], [4]] },
    ],
  },
  // y = -x
  { name: 'Neg', vjp: ({ g, dy }) => [g.neg(dy, 'dx')], cases: unaryCases },
  // y = x
  { name: 'Identity', vjp: ({ dy }) => [dy], cases: unaryCases },
  // y = exp(x)
  { name: 'Exp', vjp: ({ g, outputs: [y], dy }) => [g.mul(dy, y, 'dx')], cases: unaryCases },
  // y = log(x)
  { name: 'Log', vjp: ({ g, inputs: [x], dy }) => [g.div(dy, x!, 'dx')], domain: ['positive'], cases: unaryCases },
  // y = sqrt(x);  dx = dy / (2 y)
  {
    name: 'Sqrt',
    vjp: ({ g, outputs: [y], dy }) => [g.div(g.mul(dy, g.scalar(0.5, y.dtype), 'half_dy'), y, 'dx')],
    domain: ['positive'],
    cases: unaryCases,
  },
  // y = 1 / x;  dx = -dy y^2
  {
    name: 'Reciprocal',
    vjp: ({ g, outputs: [y], dy }) => [g.neg(g.mul(dy, g.mul(y, y, 'y2'), 'dy_y2'), 'dx')],
    domain: ['positive'],
    cases: unaryCases,
  },
  // y = 1 / (1 + exp(-x));  dx = dy y (1 - y)
  {
    name: 'Sigmoid',
    vjp: ({ g, outputs: [y], dy }) => [g.mul(dy, g.mul(y, g.sub(one(g, y), y, 'one_y'), 'dsig'), 'dx')],
    cases: unaryCases,
  },
  // y = tanh(x);  dx = dy (1 - y^2)
  {
    name: 'Tanh',
    vjp: ({ g, outputs: [y], dy }) => [g.mul(dy, g.sub(one(g, y), g.mul(y, y, 'y2'), 'dtanh'), 'dx')],
    cases: unaryCases,
  },
  // y = max(x, 0)
  {
    name: 'Relu',
    vjp: ({ g, inputs: [x], dy }) => [g.mul(dy, g.cast(g.greater(x!, g.scalar(0, x!.dtype), 'pos'), x!.dtype, 'mask'), 'dx')],
    cases: unaryCases,
  },
  // y = max(a, b), two inputs; a tie splits the gradient evenly (as torch.maximum does).
  { name: 'Max', vjp: (ctx) => minMaxVjp(ctx.g, 'greater', ctx.inputs, ctx.dy, ctx.needs), cases: binaryCases },
  { name: 'Min', vjp: (ctx) => minMaxVjp(ctx.g, 'less', ctx.inputs, ctx.dy, ctx.needs), cases: binaryCases },
  // y = sum of inputs (variadic, broadcasting)
  {
    name: 'Sum',
    vjp: ({ inputs, dy }) => inputs.map(() => dy),
    cases: [{ shapes: [[3, 4], [4], [3, 1]] }],
    emitForward: (g, xs) => g.op('Sum', xs, {}, { outputs: [{ dtype: xs[0].dtype, shape: [3, 4] }] })[0],
  },
  // y = cast(x, to): gradient cast back, float <-> float only (integer values never carry gradients).
  {
    name: 'Cast',
    vjp: ({ g, inputs: [x], dy }) => [isFloat(x!.dtype) ? g.cast(dy, x!.dtype, 'dx') : null],
    cases: [
      { label: 'f64->f32->f64', shapes: [[3, 4]], precision: 'float32', emit: (g, [x]) => g.mul(g.cast(g.cast(x, 'float32'), 'float64'), x) },
      { label: 'f64->f64', shapes: [[3, 4]], emit: (g, [x]) => g.cast(x, 'float64') },
    ],
  },
];

function minMaxVjp(
  g: GraphBuilder,
  cmp: 'greater' | 'less',
  inputs: (Value | null)[],
  dy: Value,
  needs: (i: number) => boolean,
): (Value | null)[] {
  if (inputs.length !== 2) throw new Error(`Max/Min gradient supports two inputs, got ${inputs.length}`);
  const [a, b] = inputs as Value[];
  const t = a.dtype;
  const wins = g.cast(g[cmp](a, b, 'wins'), t, 'wins_f');
  const ties = g.cast(g.equal(a, b, 'ties'), t, 'ties_f');
  const wa = g.add(wins, g.mul(ties, g.scalar(0.5, t), 'half_ties'), 'wa');
  return [needs(0) ? g.mul(dy, wa, 'da') : null, needs(1) ? g.mul(dy, g.sub(g.scalar(1, t), wa, 'wb'), 'db') : null];
}
