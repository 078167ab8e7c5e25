/**
 * `--max-steps` overrides the number of passes (issue #13.4), as `max_steps` does in Hugging Face's
 * Trainer, and the run's summary (CLI, --json, summary.json) says which limit ended it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stepBudget } from '../../../src/engine/train/budget.js';
import { runTuning } from '../../../src/engine/train/tune.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { TRAIN_NAMES, writeInstructionJsonl } from '../../helpers/instruction-data.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-maxsteps-'));
const modelDir = path.join(tmp, 'model');
const dataFile = path.join(tmp, 'data.jsonl');
const repoRoot = path.resolve(import.meta.dirname, '../../..');
beforeAll(() => {
  process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
  writeTinyModel(modelDir, 'llama', { seed: 4, hidden: 32, layers: 2 });
  writeInstructionJsonl(dataFile, TRAIN_NAMES.slice(0, 2));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const base = { model: modelDir, data: dataFile, rank: 4, batchSize: 4, lr: 2e-3, seed: 7, warmupSteps: 2, valFraction: 0.15, trainTokens: 'none' as const, threads: 1 };
const stepLines = (runDir: string) =>
  readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.loss !== undefined);

describe('the step budget', () => {
  it('a given max steps overrides the passes; without one, passes x steps per pass', () => {
    expect(stepBudget({ epochs: 3, maxSteps: 300 }, 36)).toEqual({ totalSteps: 300, endsBy: 'max-steps' });
    expect(stepBudget({ epochs: 3, maxSteps: 10 }, 36)).toEqual({ totalSteps: 10, endsBy: 'max-steps' });
    expect(stepBudget({ epochs: 3 }, 36)).toEqual({ totalSteps: 108, endsBy: 'finished' });
  });

  it('runTuning with --max-steps beyond the default 3 passes trains that many steps and says so', async () => {
    let perPass = 0;
    const r = await runTuning({ ...base, out: path.join(tmp, 'long'), maxSteps: 15 }, { onEvent: (e) => e.type === 'start' && (perPass = e.stepsPerEpoch) });
    expect(3 * perPass).toBeLessThan(15); // the default 3 passes alone would stop sooner
    expect(r.steps).toBe(15);
    expect(stepLines(r.runDir).map((m) => m.step)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(r.stoppedBecause).toBe('max-steps');
    expect(r.stopExplanation).toContain('maximum number of steps (15)');
    const summary = JSON.parse(readFileSync(path.join(r.runDir, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ steps: 15, stoppedBecause: 'max-steps', epochs: 3, maxSteps: 15, stopExplanation: r.stopExplanation });
  });

  it('without max steps the passes end the run, and the summary says so', async () => {
    let perPass = 0;
    const r = await runTuning({ ...base, out: path.join(tmp, 'passes'), epochs: 2 }, { onEvent: (e) => e.type === 'start' && (perPass = e.stepsPerEpoch) });
    expect(perPass).toBeGreaterThan(1);
    expect(r.steps).toBe(2 * perPass);
    expect(r.stoppedBecause).toBe('finished');
    expect(r.stopExplanation).toBe(`it finished 2 passes over the training examples (${2 * perPass} steps)`);
    expect(JSON.parse(readFileSync(path.join(r.runDir, 'summary.json'), 'utf8'))).toMatchObject({ steps: 2 * perPass, stoppedBecause: 'finished', maxSteps: null });
  });

  it('the CLI: attune tune --max-steps prints which limit ended the run, in words and in --json', async () => {
    const args = ['bin/attune.mjs', 'tune', '--model', modelDir, '--data', dataFile, '--max-steps', '20', '--rank', '4', '--batch-size', '4',
      '--seed', '7', '--val-fraction', '0.15', '--train-tokens', 'none', '--threads', '1'];
    // 2 x 8 examples: 3 passes are at most 12 steps; 20 steps need more passes.
    const env = { ...process.env, ATTUNE_CACHE_DIR: path.join(tmp, 'cache') };
    const text = await promisify(execFile)(process.execPath, [...args, '--out', path.join(tmp, 'cli')], { cwd: repoRoot, env });
    expect(text.stdout).toMatch(/, 20 steps\./);
    expect(text.stdout).toContain('Stopped after 20 steps because it reached the maximum number of steps (20), which overrides the number of passes.');
    const json = await promisify(execFile)(process.execPath, [...args, '--out', path.join(tmp, 'cli-json'), '--json'], { cwd: repoRoot, env });
    const last = JSON.parse(json.stdout.trim().split('\n').at(-1)!);
    expect(last).toMatchObject({ type: 'result', steps: 20, stoppedBecause: 'max-steps' });
    expect(last.stopExplanation).toContain('maximum number of steps (20)');
  }, 120_000);
});
