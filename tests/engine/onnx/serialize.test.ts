/**
 * What the model file declares about inputs and values. Training graphs leave the batch-sized inputs
 * unshaped (ORT's allocation planner then skips its quadratic buffer matching for them; see
 * Graph.unshapedDynamicInputs): the file must say so, fixed-size inputs keep their shapes, and
 * ORT computes the same outputs either way.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/engine/onnx/builder.js';
import { attr } from '../../../src/engine/onnx/graph.js';
import { serializeGraph } from '../../../src/engine/onnx/serialize.js';
import { createSession, floatTensor } from '../../../src/engine/runtime/session.js';
import { loadModel } from '../../../src/engine/models/load.js';
import { buildTrainStepGraph } from '../../../src/engine/train/step-graph.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { STEP_DEFAULTS } from '../../helpers/train-step.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-serialize-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function valueShapes(model: Uint8Array): Map<string, string[]> {
  const g = onnxProto.onnx.ModelProto.decode(model).graph!;
  return new Map(g.valueInfo!.map((v) => [v.name!, v.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : String(d.dimValue)))]));
}

function declaredShapes(model: Uint8Array): Map<string, string[] | undefined> {
  const g = onnxProto.onnx.ModelProto.decode(model).graph!;
  return new Map(g.input!.map((i) => [i.name!, i.type!.tensorType!.shape ? i.type!.tensorType!.shape.dim!.map((d) => (d.dimParam ? d.dimParam : String(d.dimValue))) : undefined]));
}

/** y = relu(x W) + b for x [rows, 4] (rows symbolic), W [4, 3] and b [3] fed as inputs. */
function smallGraph(unshaped: boolean) {
  const g = new GraphBuilder('t');
  g.unshapedDynamicInputs = unshaped;
  const x = g.input('x', 'float32', ['rows', 4]);
  const w = g.input('w', 'float32', [4, 3]);
  const b = g.input('b', 'float32', [3]);
  g.output(g.add(g.op('Relu', [g.matMul(x, w)], {}, { name: 'relu', outputs: [{ dtype: 'float32', shape: ['rows', 3] }] })[0]!, b), 'y');
  return serializeGraph(g).model;
}

describe('input shapes in the model file', () => {
  it('an unshaped graph drops only the shapes with a symbolic dimension, and computes the same', async () => {
    const shaped = smallGraph(false);
    const unshaped = smallGraph(true);
    expect(declaredShapes(shaped).get('x')).toEqual(['rows', '4']);
    expect(declaredShapes(unshaped).get('x')).toBeUndefined();
    expect(declaredShapes(unshaped).get('w')).toEqual(['4', '3']);
    expect(declaredShapes(unshaped).get('b')).toEqual(['3']);
    const feeds = {
      x: floatTensor(Float32Array.from({ length: 20 }, (_, i) => Math.sin(i)), [5, 4]),
      w: floatTensor(Float32Array.from({ length: 12 }, (_, i) => Math.cos(i)), [4, 3]),
      b: floatTensor(Float32Array.of(0.1, -0.2, 0.3), [3]),
    };
    const outputs = [];
    for (const model of [shaped, unshaped]) {
      const s = await createSession(model, { threads: 1 });
      outputs.push(Array.from((await s.run(feeds)).y!.data as Float32Array));
      await s.release();
    }
    expect(outputs[1]).toEqual(outputs[0]);
    expect(outputs[0]!.some((v) => v !== 0)).toBe(true);
  });

  it('declares the shapes of values whose dims it is sure of, and computes the same for every size', async () => {
    // h = relu(x W) [rows, 3], a per-row sum [rows, 1] and its transpose [1, rows]; `cols` is
    // not a sure dim, so the value shaped with it is left to ORT's inference.
    const build = (declare: boolean) => {
      const g = new GraphBuilder('t');
      g.unshapedDynamicInputs = true;
      if (declare) g.declaredValueDims = ['rows'];
      const x = g.input('x', 'float32', ['rows', 4]);
      const w = g.input('w', 'float32', [4, 3]);
      const h = g.op('Relu', [g.matMul(x, w)], {}, { name: 'relu', outputs: [{ dtype: 'float32', shape: ['rows', 3] }] })[0]!;
      const sums = g.op('ReduceSum', [h, g.ints([1])], { keepdims: attr.int(1) }, { name: 'row_sums', outputs: [{ dtype: 'float32', shape: ['rows', 1] }] })[0]!;
      const across = g.op('Transpose', [sums], { perm: attr.ints([1, 0]) }, { name: 'across', outputs: [{ dtype: 'float32', shape: [1, 'cols'] }] })[0]!;
      g.output(g.add(h, g.op('ReduceMean', [across, g.ints([1])], { keepdims: attr.int(1) }, { name: 'mean', outputs: [{ dtype: 'float32', shape: [1, 1] }] })[0]!), 'y');
      return serializeGraph(g).model;
    };
    const declared = build(true);
    const shapes = valueShapes(declared);
    expect(shapes.get('relu')).toEqual(['rows', '3']);
    expect(shapes.get('row_sums')).toEqual(['rows', '1']);
    expect(shapes.get('mean')).toEqual(['1', '1']);
    expect(shapes.has('across')).toBe(false); // 'cols' is not a sure dim
    expect(shapes.has('x') || shapes.has('y')).toBe(false); // inputs and outputs are declared as such
    expect(valueShapes(build(false)).size).toBe(0);
    const plain = await createSession(build(false), { threads: 1 });
    const withShapes = await createSession(declared, { threads: 1 });
    const w = floatTensor(Float32Array.from({ length: 12 }, (_, i) => Math.cos(i)), [4, 3]);
    for (const rows of [5, 2, 7]) {
      const feeds = { x: floatTensor(Float32Array.from({ length: rows * 4 }, (_, i) => Math.sin(i + rows)), [rows, 4]), w };
      const [a, b] = [await plain.run(feeds), await withShapes.run(feeds)];
      expect(b.y!.dims).toEqual([rows, 3]);
      expect(Array.from(b.y!.data as Float32Array)).toEqual(Array.from(a.y!.data as Float32Array));
    }
    await plain.release();
    await withShapes.release();
  });

  it('the training step declares its batch inputs unshaped and its flat parameter vector with its size', async () => {
    const dir = path.join(tmp, 'm');
    writeTinyModel(dir, 'llama', { seed: 2, hidden: 32, layers: 1, heads: 4, kvHeads: 2, ffn: 48 });
    const model = await loadModel(dir);
    const g = buildTrainStepGraph(model.config, model.weights, { rank: 2, alpha: 4, targets: ['q'], maxTokensPerMicroBatch: 32, trainTokenIds: [], ...STEP_DEFAULTS });
    const shapes = declaredShapes(serializeGraph(g).model);
    expect(shapes.has('input_ids')).toBe(true);
    expect(shapes.get('input_ids')).toBeUndefined();
    expect(shapes.get('targets')).toBeUndefined();
    expect(shapes.get('params')).toHaveLength(1);
    // Intermediate values: declared where every dim is a number, batch, seq, tokens or a loss chunk's rows.
    const values = valueShapes(serializeGraph(g).model);
    expect(values.size).toBeGreaterThan(g.nodes.length / 2);
    for (const dims of values.values()) for (const d of dims) expect(/^(\d+|chunk\d+)$/.test(d) || ['batch', 'seq', 'tokens'].includes(d)).toBe(true);
    expect([...values.values()].some((dims) => dims.includes('tokens'))).toBe(true);
    expect(values.has('input_ids') || values.has('loss_sum') || values.has('new.params')).toBe(false);
  });
});
