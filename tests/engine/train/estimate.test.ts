/**
 * `tune --estimate`: the time for one pass is measured from a few real steps with the chosen
 * settings, agrees with a real run's step time, and leaves nothing behind.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { estimateTuneTime, runTuning } from '../../../src/engine/index.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const work = mkdtempSync(path.join(os.tmpdir(), 'attune-estimate-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
// This process's temporary folders go to a folder of its own, so that other test files working in
// parallel (their estimates make and remove folders of the same name) cannot change the count.
const tmp = path.join(work, 'tmp');
mkdirSync(tmp);
process.env.TMPDIR = tmp;
const model = path.join(work, 'tiny');
const data = path.join(work, 'examples.jsonl');
writeTinyModel(model, 'llama', { hidden: 64, layers: 2 });
writeFileSync(data, Array.from({ length: 24 }, (_, i) => JSON.stringify({ instruction: `Say the number ${i} twice, please.`, output: `The number is ${i}, and again ${i}.` })).join('\n') + '\n');
process.env.ATTUNE_CACHE_DIR = path.join(work, 'cache');

describe('estimateTuneTime', () => {
  it('times real steps with the chosen settings and scales them to one pass over the data', async () => {
    expect(os.tmpdir()).toBe(tmp);
    const before = readdirSync(tmp).filter((d) => d.startsWith('attune-estimate-')).length;
    const settings = { model, data, batchSize: 2, epochs: 2, template: 'alpaca', valFraction: 0.1, threads: 1 };
    const e = await estimateTuneTime(settings, { steps: 3 });
    expect(e.calibrationSteps).toBe(3);
    expect(e.trainExamples).toBeGreaterThanOrEqual(20);
    expect(e.stepsPerEpoch).toBe(Math.ceil(e.trainExamples / 2));
    expect(e.secondsPerStep).toBeGreaterThan(0);
    expect(e.epochSeconds).toBeCloseTo(e.secondsPerStep * e.stepsPerEpoch, 6);
    expect(e.totalSeconds).toBeCloseTo(e.setupSeconds + 2 * e.epochSeconds, 6);
    expect(readdirSync(tmp).filter((d) => d.startsWith('attune-estimate-')).length).toBe(before);

    // A real run of one pass with the same settings: its step time is of the same size.
    const times: number[] = [];
    await runTuning({ ...settings, epochs: 1, out: path.join(work, 'run') }, { onEvent: (ev) => ev.type === 'step' && times.push(performance.now()) });
    const real = (times.at(-1)! - times[0]) / 1000 / (times.length - 1);
    expect(e.secondsPerStep / real).toBeGreaterThan(0.25);
    expect(e.secondsPerStep / real).toBeLessThan(4);
  }, 300_000);

  it('attune tune --estimate prints the measured time per step and for one pass', async () => {
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, ['bin/attune.mjs', 'tune', '--estimate', '--model', model, '--data', data, '--batch-size', '4', '--template', 'alpaca'], { cwd: repoRoot, env: process.env }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, stdout, stderr }),
      ),
    );
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^Measured on this computer \(cpu\): [\d.]+ s per step \(3 steps timed after the first, \d+ tokens\/s\)\.\nOne pass over your data \(\d+ examples, \d+ steps\): about [\d.]+ (s|min)/);
    expect(out.stdout).toMatch(/The whole run \(3 passes, plus .* to get ready\): about/);
  }, 300_000);
});
