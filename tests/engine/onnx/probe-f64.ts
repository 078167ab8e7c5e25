// Probe: which ONNX ops used by autodiff rules (and a few neighbours) have float64 kernels on ORT CPU.
// Run: npx tsx tests/engine/onnx/probe-f64.ts   (onnxruntime-node 1.30: all but Erf do)
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/engine/onnx/builder.js';
import { attr, type Value } from '../../../src/engine/onnx/graph.js';
import { serializeGraph } from '../../../src/engine/onnx/serialize.js';

type Case = [string, (g: GraphBuilder, x: Value, y: Value) => Value];
const cases: Case[] = [
  ['Add', (g, x, y) => g.add(x, y)], ['Neg', (g, x) => g.neg(x)], ['Exp', (g, x) => g.exp(x)],
  ['Log', (g, x) => g.log(x)], ['Sqrt', (g, x) => g.sqrt(x)], ['Reciprocal', (g, x) => g.reciprocal(x)],
  ['Sigmoid', (g, x) => g.sigmoid(x)], ['Tanh', (g, x) => g.op('Tanh', [x])[0]], ['Pow', (g, x, y) => g.pow(x, y)],
  ['MatMul', (g, x, y) => g.matMul(x, g.transpose(y, [1, 0]))], ['Gemm', (g, x, y) => g.gemm(x, y, { transB: true, alpha: 0.5 })],
  ['Softmax', (g, x) => g.softmax(x)], ['LogSoftmax', (g, x) => g.logSoftmax(x)],
  ['Where', (g, x, y) => g.where(g.greater(x, y), x, y)], ['Max', (g, x, y) => g.max(x, y)], ['Min', (g, x, y) => g.op('Min', [x, y])[0]],
  ['Relu', (g, x) => g.op('Relu', [x])[0]], ['Sum', (g, x, y) => g.op('Sum', [x, y, x], {}, { outputs: [{ dtype: x.dtype, shape: [2, 3] }] })[0]],
  ['ReduceSum', (g, x) => g.reduceSum(x, [1])], ['ReduceMean', (g, x) => g.reduceMean(x, [1])], ['ReduceMax', (g, x) => g.reduceMax(x, [1])],
  ['Expand', (g, x) => g.expand(g.reduceSum(x, [1]), g.ints([2, 3]), [2, 3])],
  ['Pad', (g, x) => g.op('Pad', [x, g.ints([0, 1, 0, 2])], {}, { outputs: [{ dtype: x.dtype, shape: [2, 6] }] })[0]],
  ['Slice', (g, x) => g.slice(x, [1], [3], [1])], ['Concat', (g, x, y) => g.concat([x, y], 1)],
  ['Split', (g, x) => g.op('Split', [x, g.ints([1, 2])], { axis: attr.int(1) }, { outputs: [{ dtype: x.dtype, shape: [2, 1] }, { dtype: x.dtype, shape: [2, 2] }] })[1]],
  ['Transpose', (g, x) => g.transpose(x, [1, 0])], ['Reshape', (g, x) => g.reshape(x, [3, 2])],
  ['Unsqueeze', (g, x) => g.unsqueeze(x, [0])], ['Squeeze', (g, x) => g.squeeze(g.unsqueeze(x, [0]), [0])],
  ['Identity', (g, x) => g.identity(x)], ['Cast', (g, x) => g.cast(g.cast(x, 'float32'), 'float64')],
  ['Gather', (g, x) => g.gather(x, g.ints([1, 0, 1]), 0)],
  ['ScatterND-add', (g, x) => g.op('ScatterND', [g.expand(g.scalar(0, 'float64'), g.ints([4, 3]), [4, 3]), g.constant('int64', [2, 1], [1, 1]), x], { reduction: attr.string('add') }, { outputs: [{ dtype: x.dtype, shape: [4, 3] }] })[0]],
  ['ScatterElements-add', (g, x) => g.op('ScatterElements', [g.expand(g.scalar(0, 'float64'), g.ints([4, 3]), [4, 3]), g.constant('int64', [2, 3], [1, 1, 0, 3, 3, 3]), x], { axis: attr.int(0), reduction: attr.string('add') }, { outputs: [{ dtype: x.dtype, shape: [4, 3] }] })[0]],
  ['Equal', (g, x, y) => g.cast(g.equal(x, y), 'float64')], ['Size', (g, x) => g.cast(g.op('Size', [x], {}, { outputs: [{ dtype: 'int64', shape: [] }] })[0], 'float64')],
  ['Erf', (g, x) => g.op('Erf', [x])[0]], ['Abs', (g, x) => g.op('Abs', [x])[0]], ['Sin', (g, x) => g.sin(x)], ['Cos', (g, x) => g.cos(x)],
  ['ReduceSumSquare', (g, x) => g.op('ReduceSumSquare', [x, g.ints([1])], {}, { outputs: [{ dtype: x.dtype, shape: [2, 1] }] })[0]],
  ['ReduceL2', (g, x) => g.op('ReduceL2', [x, g.ints([1])], {}, { outputs: [{ dtype: x.dtype, shape: [2, 1] }] })[0]],
  ['Clip', (g, x) => g.op('Clip', [x, g.scalar(0, 'float64'), g.scalar(1, 'float64')], {}, { outputs: [{ dtype: x.dtype, shape: [2, 3] }] })[0]],
  ['Trilu', (g, x) => g.op('Trilu', [x], {}, { outputs: [{ dtype: x.dtype, shape: [2, 3] }] })[0]],
];
for (const [name, f] of cases) {
  const g = new GraphBuilder('probe');
  const x = g.input('x', 'float64', [2, 3]);
  const y = g.input('y', 'float64', [2, 3]);
  let out: Value;
  try { out = f(g, x, y); g.output(out, 'out'); } catch (e) { console.log(name, 'BUILD', (e as Error).message); continue; }
  try {
    const s = await ort.InferenceSession.create(serializeGraph(g).model);
    const t = (v: number[]) => new ort.Tensor('float64', Float64Array.from(v), [2, 3]);
    const r = await s.run({ x: t([0.5, 1, 2, 3, 0.1, 0.7]), y: t([1, 1, 1, 2, 0.2, 0.7]) });
    console.log(name, 'ok', Array.from(r.out.data as Float64Array).slice(0, 4).map(v => +Number(v).toFixed(3)).join(','));
  } catch (e) { console.log(name, 'FAIL', (e as Error).message.split('\n')[0].slice(0, 200)); }
}
