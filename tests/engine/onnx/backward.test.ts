/** The driver's bookkeeping: path selection, fan-out, broadcast, errors, names. */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/engine/onnx/builder.js';
import { buildBackward, planBackward } from '../../../src/engine/onnx/autodiff/backward.js';
import { gradcheck } from './gradcheck.js';

const sumAll = (g: GraphBuilder, v: ReturnType<GraphBuilder['add']>) => g.reduceSum(v, [...v.shape!.keys()], false, 'loss');

describe('buildBackward', () => {
  it('sums fan-out once (one Sum node for three uses)', async () => {
    const r = await gradcheck((g, [x]) => sumAll(g, g.mul(g.add(g.exp(x), g.mul(x, x)), x)), [{ shape: [3, 4] }], { seed: 1 });
    const sums = r.graph.nodes.filter((n) => n.op === 'Sum' && n.outputs[0].startsWith('grad/x'));
    expect(sums).toHaveLength(1);
    expect(sums[0].inputs).toHaveLength(4); // exp, x·x (twice), outer mul
  });

  it('asks a rule only for the inputs on the path: a frozen weight gets no gradient', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', ['batch', 4]);
    const w = g.initializer('w', 'float32', [4, 3], new Uint8Array(48));
    const y = g.matMul(x, w, 'y');
    const loss = sumAll(g, y);
    const before = g.nodes.length;
    const grads = buildBackward(g, loss, [x]);
    expect([...grads.keys()]).toEqual(['x']);
    const backward = g.nodes.slice(before);
    // One product: dx = dy wᵀ. No dw = xᵀ dy.
    const products = backward.filter((n) => n.op === 'Gemm' || n.op === 'MatMul');
    expect(products).toHaveLength(1);
    expect(products[0].inputs[1]).toBe('w');
    expect(products[0].attrs.transB).toEqual({ kind: 'int', value: 1 });
    expect(backward.every((n) => n.outputs[0].startsWith('grad/'))).toBe(true);
    expect(planBackward(g, loss, [x]).active.has('w')).toBe(false);
  });

  it('reduces broadcast gradients to the input shape, including symbolic leading dims', async () => {
    await gradcheck((g, [a, b]) => sumAll(g, g.mul(g.sub(a, b), a)), [{ shape: [2, 3, 4], dims: ['b', 3, 4] }, { shape: [3, 1] }], { seed: 2 });
  });

  it('cuts the path at zero-gradient ops (Shape) without throwing', async () => {
    await gradcheck((g, [x]) => {
      const n = g.cast(g.shapeOf(x, 0, 1), 'float64');
      return sumAll(g, g.mul(x, n));
    }, [{ shape: [3, 2] }], { seed: 3 });
  });

  it('stopGradient treats a value as a constant', async () => {
    const r = await gradcheck((g, [x]) => {
      const y = g.exp(x, 'frozen_exp');
      return sumAll(g, g.mul(y, x));
    }, [{ shape: [3] }], { seed: 4, backward: { stopGradient: [] } });
    expect(r.maxRelErr).toBeLessThan(1e-6);
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float64', [3]);
    const y = g.exp(x, 'stopped');
    const loss = sumAll(g, g.mul(y, x));
    expect(planBackward(g, loss, [x], { stopGradient: [y] }).active.has('stopped')).toBe(false);
  });

  it('throws for an op without a rule, naming the op and the node', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', [3]);
    const y = g.scope('blk.2', () => g.op('Erf', [x], {}, { name: 'gelu_erf' })[0]);
    const loss = sumAll(g, y);
    expect(() => buildBackward(g, loss, [x])).toThrow(/no gradient rule for op Erf.*blk\.2\.gelu_erf/);
  });

  it('throws for a not-differentiable op on the path, with the reason', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', [3]);
    const loss = sumAll(g, g.op('Floor', [x], {}, { name: 'floor', outputs: [{ dtype: 'float32', shape: [3] }] })[0]);
    expect(() => buildBackward(g, loss, [x])).toThrow(/Floor is not differentiable \(piecewise constant/);
  });

  it('does not mind rule-less ops off the path', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', [3]);
    const c = g.input('c', 'float32', [3]);
    const loss = sumAll(g, g.mul(x, g.op('Erf', [c])[0]));
    expect(buildBackward(g, loss, [x]).has('x')).toBe(true);
  });

  it('rejects a non-scalar loss and, by default, an unconnected parameter', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', [3]);
    const u = g.input('u', 'float32', [2]);
    expect(() => buildBackward(g, g.exp(x), [x])).toThrow(/must be a scalar/);
    const loss = sumAll(g, x);
    expect(() => buildBackward(g, loss, [x, u])).toThrow(/does not depend on u/);
    expect(buildBackward(g, loss, [x, u], { unconnected: 'zeros' }).get('u')!.shape).toEqual([2]);
  });

  it('float32 fallback: the same check in float32 with the documented looser tolerance', async () => {
    const r = await gradcheck(
      (g, [x, w]) => sumAll(g, g.mul(g.softmax(g.matMul(x, w), -1), g.constant('float32', [3, 2], [0.3, -1.2, 0.8, 0.1, -0.5, 2]))),
      [{ shape: [3, 4] }, { shape: [4, 2] }],
      { seed: 5, dtype: 'float32' },
    );
    expect(r.maxRelErr).toBeLessThan(2e-3);
  });
});
