/**
 * What the model file declares about inputs. Training graphs leave the batch-sized inputs
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
import { serializeGraph } from '../../../src/engine/onnx/serialize.js';
import { createSession, floatTensor } from '../../../src/engine/runtime/session.js';
import { loadModel } from '../../../src/engine/models/load.js';
import { buildTrainStepGraph } from '../../../src/engine/train/step-graph.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { STEP_DEFAULTS } from '../../helpers/train-step.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-serialize-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

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
  });
});
