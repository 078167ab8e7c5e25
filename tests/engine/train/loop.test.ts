/**
 * The training loop's promises: same seed and data give the same losses; a run killed with
 * SIGKILL resumes from its last checkpoint on the same trajectory; cancel is immediate and
 * leaves a usable checkpoint; early stopping keeps the best step's adapter.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTuning, resumeTuning } from '../../../src/engine/train/tune.js';
import { loadAdapter } from '../../../src/engine/adapter/adapter.js';
import { loadModel } from '../../../src/engine/models/load.js';
import { loadTensors } from '../../../src/engine/train/run-dir.js';
import { loraParamName } from '../../../src/engine/train/step-graph.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { instructionExamples, TRAIN_NAMES, writeInstructionJsonl } from '../../helpers/instruction-data.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-loop-'));
const modelDir = path.join(tmp, 'model');
const dataFile = path.join(tmp, 'data.jsonl');
const repoRoot = path.resolve(import.meta.dirname, '../../..');
beforeAll(() => {
  process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
  writeTinyModel(modelDir, 'llama', { seed: 4, hidden: 32, layers: 2 });
  writeInstructionJsonl(dataFile, TRAIN_NAMES.slice(0, 8));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const base = { model: modelDir, data: dataFile, rank: 4, batchSize: 4, learningRate: 2e-3, seed: 7, warmupSteps: 2, valFraction: 0.15, trainTokens: 'none' as const, threads: 1 };

function losses(runDir: string): { step: number; loss?: number; val_loss?: number }[] {
  return readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

describe('the training loop', () => {
  it('is reproducible: the same seed and data give the same losses', async () => {
    const a = await runTuning({ ...base, out: path.join(tmp, 'repro-a'), maxSteps: 8 });
    const b = await runTuning({ ...base, out: path.join(tmp, 'repro-b'), maxSteps: 8 });
    const la = losses(a.runDir).filter((m) => m.loss !== undefined);
    const lb = losses(b.runDir).filter((m) => m.loss !== undefined);
    expect(la.length).toBe(8);
    la.forEach((m, i) => expect(Math.abs(m.loss! - lb[i].loss!)).toBeLessThan(1e-5));
    const c = await runTuning({ ...base, seed: 8, out: path.join(tmp, 'repro-c'), maxSteps: 8 });
    expect(losses(c.runDir).find((m) => m.step === 8)!.loss).not.toBeCloseTo(la[7].loss!, 6);
  });

  it('refuses to overwrite an existing run', async () => {
    await expect(runTuning({ ...base, out: path.join(tmp, 'repro-a'), maxSteps: 1 })).rejects.toThrow(/already holds a tuning run/);
  });

  it('resumes a SIGKILLed run from its last checkpoint on the same loss trajectory', async () => {
    const steps = 24;
    const whole = await runTuning({ ...base, out: path.join(tmp, 'whole'), maxSteps: steps, checkpointMinutes: 0 });
    const runDir = path.join(tmp, 'killed');
    const args = ['bin/attune.mjs', 'tune', '--model', modelDir, '--data', dataFile, '--out', runDir, '--max-steps', String(steps), '--rank', '4',
      '--batch-size', '4', '--lr', '2e-3', '--seed', '7', '--warmup-steps', '2', '--val-fraction', '0.15', '--train-tokens', 'none',
      '--threads', '1', '--checkpoint-minutes', '0', '--json'];
    const killedAt = await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: repoRoot, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let buf = '';
      let at = -1;
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        for (const line of buf.split('\n').slice(0, -1)) {
          const e = JSON.parse(line);
          if (e.type === 'checkpoint' && e.step >= 6 && at < 0) {
            at = e.step;
            child.kill('SIGKILL');
          }
        }
        buf = buf.slice(buf.lastIndexOf('\n') + 1);
      });
      child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(at) : reject(new Error(`tune exited without being killed (${String(_code)})`))));
    });
    expect(killedAt).toBeGreaterThanOrEqual(6);
    expect(existsSync(path.join(runDir, 'adapter'))).toBe(false);
    const resumed = await resumeTuning(runDir, { threads: 1 });
    expect(resumed.steps).toBe(steps);
    const a = losses(whole.runDir).filter((m) => m.loss !== undefined);
    const b = losses(runDir).filter((m) => m.loss !== undefined);
    expect(b.map((m) => m.step)).toEqual(a.map((m) => m.step)); // no step lost or repeated
    a.forEach((m, i) => expect(Math.abs(m.loss! - b[i].loss!)).toBeLessThan(1e-5));
  }, 120_000);

  it('cancel stops at once, leaves a usable checkpoint and adapter, and the run can be resumed', async () => {
    const controller = new AbortController();
    const runDir = path.join(tmp, 'cancelled');
    const r = await runTuning({ ...base, out: runDir, maxSteps: 30 }, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'step' && e.step === 5) controller.abort();
      },
    });
    expect(r.stoppedBecause).toBe('cancelled');
    expect(r.steps).toBe(5);
    const model = await loadModel(modelDir);
    const adapter = await loadAdapter(r.adapterDir, model.config);
    expect(adapter.rank).toBe(4);
    const resumed = await resumeTuning(runDir, { threads: 1 });
    expect(resumed.steps).toBe(30);
    expect(resumed.stoppedBecause).toBe('max-steps');
  });

  it('--init-adapter: a run can start from an existing adapter and carries on from its loss', async () => {
    const first = await runTuning({ ...base, out: path.join(tmp, 'init-a'), maxSteps: 20, learningRate: 5e-3 });
    const fresh = losses(first.runDir).filter((m) => m.loss !== undefined);
    const second = await runTuning({ ...base, out: path.join(tmp, 'init-b'), maxSteps: 2, learningRate: 1e-5, initAdapter: first.adapterDir });
    const cont = losses(second.runDir).filter((m) => m.loss !== undefined);
    // The continued run starts where the first one ended (measured: 6.91 -> 5.07, then 5.08), not afresh.
    const gained = fresh[0].loss! - fresh[fresh.length - 1].loss!;
    expect(gained).toBeGreaterThan(0.5);
    expect(cont[0].loss!).toBeLessThan(fresh[0].loss! - 0.8 * gained);
    await expect(runTuning({ ...base, rank: 8, out: path.join(tmp, 'init-c'), maxSteps: 1, initAdapter: first.adapterDir })).rejects.toThrow(/rank 4.*rank 8/);
  });

  it('LoRA dropout: changes the trajectory, and a cancelled-then-resumed run draws the same masks', async () => {
    const drop = { ...base, loraDropout: 0.3, maxSteps: 10 };
    const whole = await runTuning({ ...drop, out: path.join(tmp, 'drop-whole') });
    const controller = new AbortController();
    const runDir = path.join(tmp, 'drop-resumed');
    await runTuning({ ...drop, out: runDir }, { signal: controller.signal, onEvent: (e) => { if (e.type === 'step' && e.step === 4) controller.abort(); } });
    await resumeTuning(runDir, { threads: 1 });
    const a = losses(whole.runDir).filter((m) => m.loss !== undefined);
    const b = losses(runDir).filter((m) => m.loss !== undefined);
    expect(b).toHaveLength(10);
    a.forEach((m, i) => expect(Math.abs(m.loss! - b[i].loss!)).toBeLessThan(1e-5));
    const plain = losses((await runTuning({ ...base, maxSteps: 10, out: path.join(tmp, 'drop-none') })).runDir).filter((m) => m.loss !== undefined);
    // Step 1 has B = 0, so dropout cannot change its loss yet; later steps must differ.
    expect(Math.abs(plain[0].loss! - a[0].loss!)).toBeLessThan(1e-6);
    expect(Math.max(...a.slice(2).map((m, i) => Math.abs(m.loss! - plain[i + 2].loss!)))).toBeGreaterThan(1e-4);
  });

  it('early stopping: stops within patience once validation loss turns up and keeps the best step', async () => {
    // Validation answers contradict the training answers for the same questions: as training fits
    // its own answers, validation loss first falls (shared format) and then rises.
    const conflict = path.join(tmp, 'conflict.jsonl');
    const train = instructionExamples(TRAIN_NAMES.slice(0, 6));
    const contradicting = train.slice(0, 40).map((e) => ({ messages: [e.messages[0], { role: 'assistant' as const, content: e.messages[1].content.replace('is here', 'is gone').replace('nice day', 'bad day') }] }));
    writeFileSync(conflict, [...train, ...contradicting].map((e) => JSON.stringify(e)).join('\n') + '\n');
    const runDir = path.join(tmp, 'early');
    const r = await runTuning({ ...base, data: conflict, out: runDir, valFraction: 0.3, epochs: 20, learningRate: 5e-3, evalEvery: 2, earlyStopping: true, patience: 2 });
    const vals = losses(runDir).filter((m) => m.val_loss !== undefined);
    expect(r.stoppedBecause).toBe('early-stopping');
    const bestIdx = vals.findIndex((v) => v.step === r.bestStep);
    expect(bestIdx).toBeGreaterThanOrEqual(0);
    expect(vals.length - 1 - bestIdx).toBe(2); // stopped exactly `patience` validations after the best
    expect(Math.min(...vals.map((v) => v.val_loss!))).toBeCloseTo(r.bestValLoss!, 10);
    // The adapter holds the best step's parameters, not the last.
    const best = await loadTensors(path.join(runDir, 'best', 'tensors.safetensors'));
    const last = await loadTensors(path.join(runDir, 'checkpoint', 'tensors.safetensors'));
    const model = await loadModel(modelDir);
    const adapter = await loadAdapter(r.adapterDir, model.config);
    const key = loraParamName(0, 'q', 'B');
    expect(Array.from(adapter.factors.get('blk.0.q')!.b)).toEqual(Array.from(best.get(key)!));
    expect(Array.from(adapter.factors.get('blk.0.q')!.b)).not.toEqual(Array.from(last.get(key)!));
  }, 120_000);
});
