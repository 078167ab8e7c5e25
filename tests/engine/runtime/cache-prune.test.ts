/** The graph cache stays within its budget: least recently used entries go, recent and new ones stay. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cachedGraph, cacheKey } from '../../../src/engine/runtime/cache.js';
import { pruneCache } from '../../../src/engine/runtime/cache-prune.js';
import { GraphBuilder } from '../../../src/engine/onnx/builder.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-prune-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.ATTUNE_CACHE_DIR;
  delete process.env.ATTUNE_CACHE_MAX_GB;
});

const HOUR = 3600_000;
let rootCount = 0;
const newRoot = () => path.join(tmp, `root-${rootCount++}`);

/** An entry folder of `bytes` bytes, last used `ago` ms before now. */
function entry(root: string, rel: string, bytes: number, ago: number): string {
  const dir = path.join(root, rel);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'model.onnx'), Buffer.alloc(10));
  writeFileSync(path.join(dir, 'model.onnx.data'), Buffer.alloc(bytes - 10));
  const t = new Date(Date.now() - ago);
  utimesSync(dir, t, t);
  return dir;
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('graph cache budget', () => {
  it('removes the least recently used entries until the cache fits, never the new one nor one used within the hour', () => {
    const root = newRoot();
    const a = entry(root, 'graphs/train-a', 100, 3 * HOUR);
    const b = entry(root, 'graphs/infer-b', 100, 2 * HOUR);
    const c = entry(root, 'optimized/c', 100, 5 * HOUR);
    const recent = entry(root, 'graphs/infer-recent', 100, 10 * 60_000);
    const fresh = entry(root, 'graphs/train-new', 100, 0);
    expect(pruneCache(root, fresh, 350)).toEqual([c, a]);
    expect([a, c].map(existsSync)).toEqual([false, false]);
    expect([b, recent, fresh].map(existsSync)).toEqual([true, true, true]);
    // Over budget with only recent entries left besides b: b goes, the recent ones stay although the cache is still over.
    expect(pruneCache(root, fresh, 50)).toEqual([b]);
    expect([recent, fresh].map(existsSync)).toEqual([true, true]);
  });

  it('leaves a cache within its budget alone', () => {
    const root = newRoot();
    const old = entry(root, 'graphs/train-old', 100, 100 * HOUR);
    expect(pruneCache(root, path.join(root, 'graphs/none'), 1000)).toEqual([]);
    expect(existsSync(old)).toBe(true);
  });

  it('removes builds left by a process that died, not one in progress or just begun', () => {
    const root = newRoot();
    const dead = deadPid();
    const abandoned = entry(root, `graphs/train-x.tmp-${dead}-ab12cd34`, 100, HOUR);
    const running = entry(root, `graphs/train-y.tmp-${process.pid}-ab12cd34`, 100, HOUR);
    const justBegun = entry(root, `graphs/train-z.tmp-${dead}-ab12cd34`, 100, 60_000);
    expect(pruneCache(root, path.join(root, 'graphs/none'), 1e9)).toEqual([abandoned]);
    expect([running, justBegun].map(existsSync)).toEqual([true, true]);
  });

  it('a reused graph counts as used now; writing a new one prunes the cache', async () => {
    const root = newRoot();
    process.env.ATTUNE_CACHE_DIR = root;
    const build = () => {
      const g = new GraphBuilder();
      g.output(g.identity(g.input('x', 'float32', [1])), 'y');
      return g;
    };
    const first = await cachedGraph('t', cacheKey({ prune: 1 }), build);
    const firstDir = path.dirname(first.modelPath);
    const longAgo = new Date(Date.now() - 10 * HOUR);
    utimesSync(firstDir, longAgo, longAgo);
    expect((await cachedGraph('t', cacheKey({ prune: 1 }), build)).reused).toBe(true);
    expect(Date.now() - statSync(firstDir).mtimeMs).toBeLessThan(HOUR);
    // Unused for ten hours, and a budget of a few bytes: the next new graph pushes it out.
    utimesSync(firstDir, longAgo, longAgo);
    process.env.ATTUNE_CACHE_MAX_GB = String(1 / 2 ** 30);
    const second = await cachedGraph('t', cacheKey({ prune: 2 }), build);
    expect(existsSync(firstDir)).toBe(false);
    expect(existsSync(second.modelPath)).toBe(true);
  });
});
