/**
 * A run's prepared data (imported copy, split, tokens) comes from the cache on a second run with
 * the same file, model and settings, identical to preparing it anew; a changed file or setting,
 * or a damaged cache entry, prepares it again; forgetting a run's data removes its entry.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type LoadedModel } from '../../../src/engine/models/load.js';
import { hyperparametersOf, resolveSettings } from '../../../src/engine/train/hyperparameters.js';
import { forgetPreparedData, prepareRunData, type PreparedData } from '../../../src/engine/train/prepared-data.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { TRAIN_NAMES, writeInstructionJsonl } from '../../helpers/instruction-data.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-prepared-'));
const cache = path.join(tmp, 'cache');
const dataFile = path.join(tmp, 'data.jsonl');
let model: LoadedModel;
let encodes = 0;
beforeAll(async () => {
  process.env.ATTUNE_CACHE_DIR = cache;
  writeTinyModel(path.join(tmp, 'model'), 'llama', { seed: 4, hidden: 32, layers: 1 });
  writeInstructionJsonl(dataFile, TRAIN_NAMES.slice(0, 4));
  model = await loadModel(path.join(tmp, 'model'), { lazyWeights: true });
  const encodeChat = model.tokenizer.encodeChat.bind(model.tokenizer);
  model.tokenizer.encodeChat = (...args) => {
    encodes++;
    return encodeChat(...args);
  };
});
afterAll(() => {
  delete process.env.ATTUNE_CACHE_DIR;
  rmSync(tmp, { recursive: true, force: true });
});

const settings = { valFraction: 0.25, dropNearDuplicates: false };
let runs = 0;
/** Prepares the data into a new run folder; returns it, its data.jsonl and how many encodes it took. */
async function prepare(overrides: Record<string, unknown> = {}) {
  const runDir = path.join(tmp, `run-${runs++}`);
  mkdirSync(runDir);
  const hp = hyperparametersOf(resolveSettings({ seed: 3, ...overrides }));
  const before = encodes;
  const prepared = await prepareRunData(dataFile, path.join(runDir, 'data.jsonl'), model, hp, settings);
  const copy = path.join(runDir, 'data.jsonl');
  return { prepared, jsonl: existsSync(copy) ? readFileSync(copy, 'utf8') : '', encodes: encodes - before, runDir };
}
const rowsOf = (p: PreparedData) => [...p.train, ...p.validation].map((r) => ({ ids: r.ids, mask: Array.from(r.lossMask) }));

describe('prepared run data', () => {
  it('a second run on the same file reads it back: the same copy, report, split and tokens, nothing tokenized', async () => {
    const first = await prepare();
    expect(first.encodes).toBeGreaterThan(0);
    expect(first.prepared.train.length).toBeGreaterThan(0);
    expect(first.prepared.validation.length).toBeGreaterThan(0);
    expect(first.prepared.train.some((r) => r.lossMask.includes(1) && r.lossMask.includes(0))).toBe(true);
    const second = await prepare();
    expect(second.encodes).toBe(0);
    expect(second.jsonl).toBe(first.jsonl);
    expect(rowsOf(second.prepared)).toEqual(rowsOf(first.prepared));
    expect(second.prepared.train.length).toBe(first.prepared.train.length);
    expect(second.prepared.train[0]!.lossMask).toBeInstanceOf(Uint8Array);
    // The report names this run's own copy; the rest is the first run's.
    expect(second.prepared.report.out).toBe(path.join(second.runDir, 'data.jsonl'));
    expect({ ...second.prepared.report, out: undefined }).toEqual({ ...first.prepared.report, out: undefined });
  });

  it('another seed, length limit or a changed file prepares it again', async () => {
    const base = await prepare();
    const otherSeed = await prepare({ seed: 4 });
    expect(otherSeed.encodes).toBeGreaterThan(0);
    expect(rowsOf(otherSeed.prepared)).not.toEqual(rowsOf(base.prepared)); // another split
    const shorter = await prepare({ maxLength: 32 });
    expect(shorter.encodes).toBeGreaterThan(0);
    expect(shorter.prepared.report.counts.imported).toBeLessThan(base.prepared.report.counts.imported);
    appendFileSync(dataFile, JSON.stringify({ messages: [{ role: 'user', content: 'Where is the kite?' }, { role: 'assistant', content: 'Dear Zed, the kite is here. Have a nice day!' }] }) + '\n');
    const changed = await prepare();
    expect(changed.encodes).toBeGreaterThan(0);
    expect(changed.prepared.report.counts.imported).toBe(base.prepared.report.counts.imported + 1);
  });

  it("forgetting a run's data removes its cache entry, and only an entry of the cache", async () => {
    const first = await prepare();
    const second = await prepare();
    expect(second.encodes).toBe(0);
    const entries = () => readdirSync(path.join(cache, 'data')).length;
    const count = entries();
    await forgetPreparedData(second.runDir);
    expect(entries()).toBe(count - 1);
    expect((await prepare()).encodes).toBeGreaterThan(0); // prepared anew
    // A key file naming anything but an entry is ignored; a run without one is fine.
    const outside = path.join(tmp, 'keep-me');
    mkdirSync(outside);
    writeFileSync(path.join(first.runDir, 'data.cache-key'), '../../keep-me');
    await forgetPreparedData(first.runDir);
    expect(existsSync(outside)).toBe(true);
    await forgetPreparedData(path.join(tmp, 'no-such-run'));
  });

  it('a file that cannot be read is reported by the import, as without the cache', async () => {
    const runDir = path.join(tmp, `run-${runs++}`);
    mkdirSync(runDir);
    const hp = hyperparametersOf(resolveSettings({ seed: 3 }));
    const { report, train } = await prepareRunData(path.join(tmp, 'missing.jsonl'), path.join(runDir, 'data.jsonl'), model, hp, settings);
    expect(report.fatal).toBe(true);
    expect(report.problems[0]!.code).toBe('data.file-unreadable');
    expect(train).toEqual([]);
  });

  it('a damaged cache entry is prepared again, and a cache that cannot be written only costs the time', async () => {
    const fresh = await prepare();
    for (const entry of readdirSync(path.join(cache, 'data'))) writeFileSync(path.join(cache, 'data', entry, 'prepared.json'), '{"report": ');
    const again = await prepare();
    expect(again.encodes).toBeGreaterThan(0);
    expect(rowsOf(again.prepared)).toEqual(rowsOf(fresh.prepared));
    process.env.ATTUNE_CACHE_DIR = dataFile; // a file, not a folder: nothing can be cached under it
    try {
      const uncached = await prepare();
      expect(rowsOf(uncached.prepared)).toEqual(rowsOf(fresh.prepared));
      expect((await prepare()).encodes).toBeGreaterThan(0);
    } finally {
      process.env.ATTUNE_CACHE_DIR = cache;
    }
  });
});
