/**
 * The small pieces of learning from corrections in the app, without a model: preference settings
 * reach the engine only where they apply, a teach-again job continues its adapter, rewards travel
 * from the engine's step event to the chart's points, provenance and rating counts, and the
 * contract's bounds on the new calls and settings.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { calls } from '../../src/shared/contract.js';
import { PRESETS } from '../../src/shared/presets.js';
import { resolveSettings } from '../../src/engine/train/hyperparameters.js';
import { toTuneConfig, toTuneEvent } from '../../src/main/engine-facade.js';
import type { TuneJobSpec } from '../../src/main/engine.js';
import type { RunRecord } from '../../src/main/runs.js';
import { rateAnswer, teachAgainSettings } from '../../src/main/services/corrections.js';
import { correctionsInfo, provenanceOf } from '../../src/main/services/teach-again.js';
import { answersCorrection } from '../../src/engine/index.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-corr-calls-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const spec = (settings: Partial<TuneJobSpec['settings']>, extra: Partial<TuneJobSpec> = {}): TuneJobSpec => ({
  modelPath: '/m',
  dataFile: '/d.jsonl',
  runDir: '/r',
  valFraction: 0.1,
  settings: { ...PRESETS.quick.values, ...settings },
  ...extra,
});

describe('preference settings to the engine', () => {
  it('beta only with dpo/orpo, rpoAlpha only with dpo (the engine refuses them elsewhere)', () => {
    const sft = toTuneConfig(spec({ method: 'sft', beta: 0.3, rpoAlpha: 1 }));
    expect(sft).not.toHaveProperty('beta');
    expect(sft).not.toHaveProperty('rpoAlpha');
    expect(() => resolveSettings(sft)).not.toThrow();
    expect(toTuneConfig(spec({ method: 'dpo', beta: 0.3, rpoAlpha: 1 }))).toMatchObject({ method: 'dpo', beta: 0.3, rpoAlpha: 1 });
    const orpo = toTuneConfig(spec({ method: 'orpo', beta: 0.2, rpoAlpha: 1 }));
    expect(orpo).toMatchObject({ method: 'orpo', beta: 0.2 });
    expect(orpo).not.toHaveProperty('rpoAlpha');
    expect(resolveSettings(orpo)).toMatchObject({ method: 'orpo', beta: 0.2 });
  });

  it('a teach-again job starts from its adapter with its alpha', () => {
    const c = toTuneConfig(spec({ method: 'sft', rank: 16 }, { continueFrom: { initAdapter: '/runs/a/adapter', alpha: 32, warmupSteps: 2 } }));
    expect(c).toMatchObject({ initAdapter: '/runs/a/adapter', alpha: 32, warmupSteps: 2, rank: 16 });
  });

  it('teach again: 10 passes, or more for a few corrections, at least the 40 steps of the measured recipe', () => {
    const a = { r: 16, lora_alpha: 32 };
    expect(teachAgainSettings(a, 14)).toMatchObject({ method: 'sft', epochs: 10, batchSize: 4, learningRate: 2e-3, rank: 16, alpha: 32, valFraction: 0, earlyStopping: false });
    expect(teachAgainSettings(a, 400).epochs).toBe(10);
    expect(teachAgainSettings(a, 2).epochs).toBe(40);
    expect(teachAgainSettings(a, 6).epochs).toBe(20);
  });

  it('rewards of a preference step travel to the app', () => {
    const base = { type: 'step' as const, step: 3, totalSteps: 9, epoch: 0.3, loss: 0.5, gradNorm: 1, lr: 1e-3, tokens: 10, tokensPerSecond: 100, elapsedSeconds: 1, etaSeconds: 2 };
    expect(toTuneEvent({ ...base, rewards: { rewards_chosen: 0.4, rewards_rejected: -0.2, reward_margin: 0.6, reward_accuracy: 0.75 } })).toMatchObject({ rewards: { chosen: 0.4, rejected: -0.2, margin: 0.6, accuracy: 0.75 } });
    expect(toTuneEvent(base)).not.toHaveProperty('rewards');
  });

  it('the contract takes method, beta and rpoAlpha with plain bounds', () => {
    const start = calls['tune.start'].request;
    const ok = (advanced: Record<string, unknown>) => start.safeParse({ project: 'p', modelPath: '/m', preset: 'quick', advanced }).success;
    expect(ok({ method: 'dpo', beta: 0.1, rpoAlpha: 1 })).toBe(true);
    expect(ok({ method: 'ppo' })).toBe(false);
    expect(ok({ beta: 0 })).toBe(false);
    expect(ok({ rpoAlpha: -1 })).toBe(false);
    expect(calls['corrections.save'].request.safeParse({ project: 'p', which: 'tuned', prompt: [], answer: 'a', corrected: 'b' }).success).toBe(false);
    expect(calls['corrections.rate'].request.safeParse({ project: 'p', which: 'tuned', prompt: [{ role: 'user', content: 'q' }], answer: 'a', rating: 'meh' }).success).toBe(false);
  });
});

describe('ratings and provenance', () => {
  const run = { runId: 'run-1', adapterDir: '/w/runs/run-1/adapter' } as RunRecord & { adapterDir: string };
  it('records the run and its adapter for the tuned model, the run only for the original', () => {
    const now = new Date('2026-12-04T12:00:00Z');
    expect(provenanceOf(run, 'tuned', now)).toEqual({ runId: 'run-1', adapter: '/w/runs/run-1/adapter', which: 'tuned', date: '2026-12-04T12:00:00.000Z' });
    expect(provenanceOf(run, 'base', now)).toEqual({ runId: 'run-1', which: 'base', date: '2026-12-04T12:00:00.000Z' });
    expect(provenanceOf(undefined, 'base', now)).toEqual({ which: 'base', date: '2026-12-04T12:00:00.000Z' });
    expect(() => provenanceOf(undefined, 'tuned', now)).toThrow();
  });

  it('counts the latest rating of each answer', async () => {
    const dir = path.join(tmp, 'p');
    const prompt = [{ role: 'user' as const, content: 'Where is my order?' }];
    const p = (which: 'tuned' | 'base') => provenanceOf(run, which);
    await rateAnswer(dir, { prompt, answer: 'a', rating: 'down', provenance: p('tuned') });
    await rateAnswer(dir, { prompt, answer: 'a', rating: 'up', provenance: p('tuned') }); // changed their mind
    await rateAnswer(dir, { prompt, answer: 'b', rating: 'down', provenance: p('base') });
    expect(await correctionsInfo(dir)).toEqual({ corrections: [], ratings: { up: 1, down: 1 } });
  });

  it('"right" is the correction word for word or nearly (ROUGE-L >= 0.9)', () => {
    expect(answersCorrection(' Dear Tom, the ball is here. Love, Sue. ', 'Dear Tom, the ball is here. Love, Sue.')).toBe(true);
    expect(answersCorrection('Dear Tom, the ball is here. Love, Sue', 'Dear Tom, the ball is here. Love, Sue.')).toBe(true);
    expect(answersCorrection('Dear Tom, the ball is here. From Tom.', 'Dear Tom, the ball is here. Love, Sue.')).toBe(false);
    expect(answersCorrection('', 'x')).toBe(false);
  });
});
