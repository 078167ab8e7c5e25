/**
 * A run folder written before the settings had one name each (config.json version 1: `lr`,
 * `earlyStoppingPatience`, no base storage) resumes, on the same trajectory as a run that was
 * never stopped.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resumeTuning, runTuning } from '../../../src/engine/train/tune.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { TRAIN_NAMES, writeInstructionJsonl } from '../../helpers/instruction-data.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-old-config-'));
const modelDir = path.join(tmp, 'model');
const dataFile = path.join(tmp, 'data.jsonl');
beforeAll(() => {
  process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
  writeTinyModel(modelDir, 'llama', { seed: 4, hidden: 32, layers: 2 });
  writeInstructionJsonl(dataFile, TRAIN_NAMES.slice(0, 8));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const losses = (runDir: string) =>
  readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss?: number }).filter((m) => m.loss !== undefined);

describe('an old run folder', () => {
  it('resumes from a version-1 config.json written with the older names', async () => {
    const settings = { model: modelDir, data: dataFile, rank: 4, batchSize: 4, learningRate: 3e-3, seed: 7, warmupSteps: 2, valFraction: 0.15, trainTokens: 'none' as const, threads: 1, maxSteps: 8, checkpointMinutes: 0 };
    const whole = await runTuning({ ...settings, out: path.join(tmp, 'whole') });
    const runDir = path.join(tmp, 'old');
    const controller = new AbortController();
    await runTuning({ ...settings, out: runDir }, { signal: controller.signal, onEvent: (e) => { if (e.type === 'step' && e.step === 3) controller.abort(); } });

    // Rewrite config.json as a version-1 run wrote it.
    const file = path.join(runDir, 'config.json');
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.version).toBe(2);
    expect(saved.hp).toMatchObject({ learningRate: 3e-3, earlyStopping: false });
    const { learningRate, earlyStopping: _e, patience: _p, baseStorage: _b, recomputeActivations: _r, ...rest } = saved.hp;
    writeFileSync(file, JSON.stringify({ ...saved, version: 1, hp: { ...rest, lr: learningRate, earlyStoppingPatience: 0 } }));

    const resumed = await resumeTuning(runDir, { threads: 1 });
    expect(resumed.steps).toBe(8);
    const a = losses(whole.runDir);
    const b = losses(runDir);
    expect(b.map((m) => m.step)).toEqual(a.map((m) => m.step));
    a.forEach((m, i) => expect(Math.abs(m.loss! - b[i]!.loss!)).toBeLessThan(1e-5));
  }, 120_000);
});
