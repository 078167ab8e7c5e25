/**
 * ORT's optimised model (with its packed weights) cached beside the graph cache: the second
 * start loads it and computes the very same outputs; a changed model file gets a fresh entry;
 * an unwritable cache only costs the saving.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/engine/onnx/builder.js';
import { attr } from '../../../src/engine/onnx/graph.js';
import { writeModelDir } from '../../../src/engine/onnx/serialize.js';
import { createSession, floatTensor, optimizedModelPath } from '../../../src/engine/runtime/session.js';
import { ChatSession } from '../../../src/engine/generate/chat-session.js';
import { STORIES260K_HF_DIR } from '../../helpers/tiny-model.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-optimized-cache-'));
beforeAll(() => (process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache')));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** x [n, 256] -> Gemm with a constant 2 MiB weight (packed by ORT at start) -> Relu -> MatMul. */
async function writeModel(dir: string, seed: number): Promise<string> {
  const g = new GraphBuilder('t');
  const x = g.input('x', 'float32', ['n', 256]);
  let s = seed;
  const rand = (n: number) => Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5);
  const w = g.initializer('w', 'float32', [2048, 256], new Uint8Array(rand(2048 * 256).buffer));
  const w2 = g.initializer('w2', 'float32', [2048, 32], new Uint8Array(rand(2048 * 32).buffer));
  const h = g.op('Gemm', [x, w], { transB: attr.int(1) }, { name: 'gemm', outputs: [{ dtype: 'float32', shape: ['n', 2048] }] })[0];
  g.output(g.matMul(g.op('Relu', [h], {}, { name: 'relu', outputs: [{ dtype: 'float32', shape: ['n', 2048] }] })[0], w2), 'y');
  return (await writeModelDir(g, dir)).modelPath;
}

const input = floatTensor(Float32Array.from({ length: 5 * 256 }, (_, i) => Math.sin(i)), [5, 256]);
const run = async (file: string, cached: boolean) => {
  const s = await createSession(file, { threads: 1, optimizedCache: cached });
  const y = Array.from((await s.run({ x: input })).y.data as Float32Array);
  await s.release();
  return y;
};

describe('optimised-model cache', () => {
  it('saves the optimised model on the first start and starts from it next time, with the same outputs', async () => {
    const file = await writeModel(path.join(tmp, 'm1'), 1);
    const plain = await run(file, false);
    const cachedPath = optimizedModelPath(file, 'cpu');
    expect(existsSync(cachedPath)).toBe(false);
    const first = await run(file, true);
    expect(existsSync(cachedPath)).toBe(true);
    expect(readdirSync(path.dirname(cachedPath)).sort()).toEqual(['done', 'model.onnx', 'model.onnx.data']);
    const second = await run(file, true);
    expect(first).toEqual(plain);
    expect(second).toEqual(plain);
  });

  it('keys the entry by the model file: a rebuilt file gets a new one', async () => {
    const file = await writeModel(path.join(tmp, 'm2'), 2);
    await run(file, true);
    const before = optimizedModelPath(file, 'cpu');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect(optimizedModelPath(file, 'cpu')).not.toBe(before);
  });

  it('still starts when the cache cannot be written', async () => {
    const file = await writeModel(path.join(tmp, 'm3'), 3);
    const plain = await run(file, false);
    // A cache "folder" that is a file: no folder can be made in it, not even by root.
    const blocked = path.join(tmp, 'not-a-folder');
    writeFileSync(blocked, 'x');
    const saved = process.env.ATTUNE_CACHE_DIR;
    process.env.ATTUNE_CACHE_DIR = blocked;
    try {
      expect(await run(file, true)).toEqual(plain);
    } finally {
      process.env.ATTUNE_CACHE_DIR = saved;
    }
  });

  it('chat: a second start from the cache answers with the same tokens', async () => {
    const a = await ChatSession.open({ modelPath: STORIES260K_HF_DIR, device: 'cpu', threads: 1 });
    const ta = (await a.complete([1, 20, 30, 40], { maxTokens: 8, temperature: 0 })).tokens;
    await a.close();
    expect(readdirSync(path.join(tmp, 'cache', 'optimized')).length).toBeGreaterThan(0);
    const b = await ChatSession.open({ modelPath: STORIES260K_HF_DIR, device: 'cpu', threads: 1 });
    const tb = (await b.complete([1, 20, 30, 40], { maxTokens: 8, temperature: 0 })).tokens;
    await b.close();
    expect(tb).toEqual(ta);
  });
});
