/** Built graphs are cached on disk by model identity + options; a failed build leaves nothing behind. */
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedGraph, cacheKey } from '../../../src/engine/runtime/cache.js';
import { inferenceSessionFor } from '../../../src/engine/generate/inference-session.js';
import { loadModel } from '../../../src/engine/models/load.js';
import { GraphBuilder } from '../../../src/engine/onnx/builder.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-cache-test-'));
beforeAll(() => (process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache')));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('graph cache', () => {
  it('builds once, then reuses; other options or a changed model build anew', async () => {
    const dir = path.join(tmp, 'model');
    writeTinyModel(dir, 'llama', { seed: 1 });
    const model = await loadModel(dir);
    const a = await inferenceSessionFor(model, { lastTokenOnly: true });
    const again = await inferenceSessionFor(await loadModel(dir), { lastTokenOnly: true });
    expect(again).toBe(a);
    const other = await inferenceSessionFor(model, { lastTokenOnly: false });
    expect(other).not.toBe(a);
    utimesSync(path.join(dir, 'model.safetensors'), new Date(), new Date(Date.now() + 5000));
    const changed = await inferenceSessionFor(await loadModel(dir), { lastTokenOnly: true });
    expect(changed).not.toBe(a);
  });

  it('reports reuse, and a failed build leaves no folder', async () => {
    const key = cacheKey({ test: 1 });
    const first = await cachedGraph('t', key, () => {
      const g = new GraphBuilder();
      g.output(g.identity(g.input('x', 'float32', [1])), 'y');
      return g;
    });
    expect(first.reused).toBe(false);
    expect((await cachedGraph('t', key, () => { throw new Error('must not build'); })).reused).toBe(true);
    await expect(cachedGraph('t', cacheKey({ test: 2 }), () => { throw new Error('boom'); })).rejects.toThrow('boom');
    const graphs = readdirSync(path.join(process.env.ATTUNE_CACHE_DIR!, 'graphs'));
    expect(graphs.some((d) => d.includes('tmp'))).toBe(false);
    expect(existsSync(path.join(process.env.ATTUNE_CACHE_DIR!, 'graphs', `t-${cacheKey({ test: 2 })}`))).toBe(false);
  });
});
