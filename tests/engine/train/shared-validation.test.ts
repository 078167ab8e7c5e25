/**
 * Validation through the training session (one copy of the frozen base in memory): the same
 * validation losses as the forward-only session, the same training trajectory, dropout off while
 * validating, and the same DPO reference and preference validation.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTuning } from '../../../src/engine/train/tune.js';
import { shareTrainingSession } from '../../../src/engine/train/trainer.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { TRAIN_NAMES, writeInstructionJsonl } from '../../helpers/instruction-data.js';
import { writePreferenceJsonl } from '../../helpers/preference-data.js';
import type { ModelConfig } from '../../../src/engine/models/config.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-shared-val-'));
const modelDir = path.join(tmp, 'model');
const dataFile = path.join(tmp, 'data.jsonl');
const pairs = path.join(tmp, 'pairs.jsonl');
beforeAll(() => {
  process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
  writeTinyModel(modelDir, 'llama', { seed: 4, hidden: 32, layers: 2 });
  writeInstructionJsonl(dataFile, TRAIN_NAMES.slice(0, 8));
  writePreferenceJsonl(pairs, TRAIN_NAMES.slice(0, 8));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const base = { model: modelDir, data: dataFile, rank: 4, batchSize: 4, learningRate: 2e-3, seed: 7, warmupSteps: 2, valFraction: 0.3, evalEvery: 2, trainTokens: 'none' as const, threads: 1 };
type Row = { step: number; loss?: number; val_loss?: number };
const metrics = (runDir: string): Row[] => readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

/** The same run twice: validation in a session of its own, and through the training session. */
async function both(name: string, config: Record<string, unknown>): Promise<{ separate: Row[]; shared: Row[]; dirs: string[] }> {
  const a = await runTuning({ ...base, ...config, out: path.join(tmp, `${name}-separate`) }, { validateInTrainingSession: false });
  const b = await runTuning({ ...base, ...config, out: path.join(tmp, `${name}-shared`) }, { validateInTrainingSession: true });
  return { separate: metrics(a.runDir), shared: metrics(b.runDir), dirs: [a.runDir, b.runDir] };
}

function expectSameRun({ separate, shared }: { separate: Row[]; shared: Row[] }): void {
  const val = (rows: Row[]) => rows.filter((r) => r.val_loss !== undefined);
  const steps = (rows: Row[]) => rows.filter((r) => r.loss !== undefined);
  expect(val(separate).length).toBeGreaterThanOrEqual(2);
  expect(val(shared).map((r) => r.step)).toEqual(val(separate).map((r) => r.step));
  val(shared).forEach((r, i) => expect(Math.abs(r.val_loss! - val(separate)[i].val_loss!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(r.val_loss!))));
  // Training itself is untouched: the very same losses, step by step.
  expect(steps(shared).map((r) => r.loss)).toEqual(steps(separate).map((r) => r.loss));
}

describe('validation through the training session', () => {
  it('gives the forward-only session\'s validation loss, with LoRA dropout off while validating', async () => {
    const runs = await both('dropout', { loraDropout: 0.3, maxSteps: 6 });
    expectSameRun(runs);
    // Dropout is on in training (else this test would not show it is off in validation).
    const plain = await runTuning({ ...base, loraDropout: 0, maxSteps: 6, out: path.join(tmp, 'no-dropout') });
    expect(metrics(plain.runDir).find((r) => r.step === 6 && r.loss !== undefined)!.loss).not.toBeCloseTo(runs.shared.find((r) => r.step === 6 && r.loss !== undefined)!.loss!, 6);
  });

  it('with recomputed activations and an int4 base', async () => {
    expectSameRun(await both('recompute', { recomputeActivations: true, baseStorage: 'int4', maxSteps: 4 }));
  });

  it('DPO: the same reference log-probabilities and preference validation loss', async () => {
    const runs = await both('dpo', { data: pairs, method: 'dpo', maxSteps: 4 });
    expectSameRun(runs);
    const [a, b] = runs.dirs.map((d) => JSON.parse(readFileSync(path.join(d, 'reference-logps.json'), 'utf8')) as { train: number[]; validation: number[] });
    expect(b.train.length).toBe(a.train.length);
    [...a.train, ...a.validation].forEach((x, i) => expect(Math.abs([...b.train, ...b.validation][i] - x)).toBeLessThan(1e-4 * Math.max(1, Math.abs(x))));
  });

  it('is the default for wide models and the memory-saving mode only', () => {
    const cfg = (hidden: number) => ({ hidden }) as ModelConfig;
    expect(shareTrainingSession(cfg(576), {})).toBe(false);
    expect(shareTrainingSession(cfg(576), { recomputeActivations: true })).toBe(true);
    expect(shareTrainingSession(cfg(1536), {})).toBe(true);
  });
});
