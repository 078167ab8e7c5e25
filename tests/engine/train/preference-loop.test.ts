/**
 * DPO and ORPO runs keep the training loop's promises: `--method` from the CLI, reward metrics per
 * step, the first DPO step at ln 2 (policy = reference) also from a starting adapter, a SIGKILLed
 * DPO run resumes on the same trajectory with the saved reference, cancel + resume, early
 * stopping on the preference validation loss, and clear errors for instruction-only data.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTuning, resumeTuning } from '../../../src/engine/train/tune.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { TRAIN_NAMES, writeInstructionJsonl } from '../../helpers/instruction-data.js';
import { writePreferenceJsonl } from '../../helpers/preference-data.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-pref-loop-'));
const modelDir = path.join(tmp, 'model');
const pairs = path.join(tmp, 'pairs.jsonl');
const plain = path.join(tmp, 'plain.jsonl');
const repoRoot = path.resolve(import.meta.dirname, '../../..');
beforeAll(() => {
  process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
  writeTinyModel(modelDir, 'llama', { seed: 4, hidden: 32, layers: 2 });
  writePreferenceJsonl(pairs, TRAIN_NAMES.slice(0, 8));
  writeInstructionJsonl(plain, TRAIN_NAMES.slice(0, 8));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const base = { model: modelDir, data: pairs, rank: 4, batchSize: 4, learningRate: 2e-3, epochs: 10, seed: 7, warmupSteps: 2, valFraction: 0.15, trainTokens: 'none' as const, threads: 1 };
type Row = { step: number; loss?: number; val_loss?: number; rewards_chosen?: number; rewards_rejected?: number; reward_margin?: number; reward_accuracy?: number };
const metrics = (runDir: string): Row[] => readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const steps = (runDir: string) => metrics(runDir).filter((m) => m.loss !== undefined);

describe('preference runs', () => {
  it('DPO: starts at ln 2 with zero rewards, writes reward metrics, and learns the preference', async () => {
    const r = await runTuning({ ...base, method: 'dpo', out: path.join(tmp, 'dpo'), maxSteps: 30 });
    const m = steps(r.runDir);
    expect(m).toHaveLength(30);
    expect(m[0].loss!).toBeCloseTo(Math.LN2, 5);
    expect(m[0]).toMatchObject({ rewards_chosen: 0, rewards_rejected: 0, reward_margin: 0 });
    for (const row of m) for (const k of ['rewards_chosen', 'rewards_rejected', 'reward_margin', 'reward_accuracy'] as const) expect(Number.isFinite(row[k])).toBe(true);
    const last = m[m.length - 1];
    expect(last.loss!).toBeLessThan(0.3);
    expect(last.reward_margin!).toBeGreaterThan(1);
    expect(last.reward_accuracy).toBe(1);
    expect(metrics(r.runDir).some((x) => x.val_loss !== undefined && x.val_loss < Math.LN2)).toBe(true);
    const saved = JSON.parse(readFileSync(path.join(r.runDir, 'config.json'), 'utf8'));
    expect(saved.hp).toMatchObject({ method: 'dpo', beta: 0.1 });
    const ref = JSON.parse(readFileSync(path.join(r.runDir, 'reference-logps.json'), 'utf8'));
    expect(ref.train.length % 2).toBe(0);
    expect(ref.train.every((x: number) => x < 0)).toBe(true);
  });

  it('DPO from a starting adapter (with its token rows): the reference is that adapter, so step 1 is ln 2 again', async () => {
    const first = await runTuning({ ...base, data: plain, trainTokens: [2], out: path.join(tmp, 'sft-first'), maxSteps: 10, learningRate: 5e-3 });
    const r = await runTuning({ ...base, trainTokens: [2], method: 'dpo', initAdapter: first.adapterDir, out: path.join(tmp, 'dpo-init'), maxSteps: 2 });
    expect(steps(r.runDir)[0].loss!).toBeCloseTo(Math.LN2, 5);
  });

  it('ORPO: the loss is the NLL of the chosen answer plus lambda times the odds-ratio term; rewards are log odds', async () => {
    const r = await runTuning({ ...base, learningRate: 1e-2, method: 'orpo', beta: 0.2, out: path.join(tmp, 'orpo'), maxSteps: 30 });
    const m = steps(r.runDir);
    // At the start, NLL per token of a random model is about ln(vocab) and the log odds are very negative.
    expect(m[0].loss!).toBeGreaterThan(4);
    expect(m[0].rewards_chosen!).toBeLessThan(-3);
    const last = m[m.length - 1];
    console.log('ORPO tiny first/last', JSON.stringify(m[0]), JSON.stringify(last));
    expect(last.loss!).toBeLessThan(m[0].loss! / 2);
    expect(last.reward_margin!).toBeGreaterThan(m[0].reward_margin! + 1);
  });

  it('a SIGKILLed DPO run (attune tune --method dpo) resumes on the same trajectory with its saved reference', async () => {
    const n = 16;
    const whole = await runTuning({ ...base, method: 'dpo', out: path.join(tmp, 'whole'), maxSteps: n, checkpointMinutes: 0 });
    const runDir = path.join(tmp, 'killed');
    const args = ['bin/attune.mjs', 'tune', '--method', 'dpo', '--epochs', '10', '--model', modelDir, '--data', pairs, '--out', runDir, '--max-steps', String(n), '--rank', '4',
      '--batch-size', '4', '--lr', '2e-3', '--seed', '7', '--warmup-steps', '2', '--val-fraction', '0.15', '--train-tokens', 'none',
      '--threads', '1', '--checkpoint-minutes', '0', '--json'];
    const killedAt = await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: repoRoot, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let buf = '';
      let at = -1;
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        for (const line of buf.split('\n').slice(0, -1)) {
          const e = JSON.parse(line);
          if (e.type === 'checkpoint' && e.step >= 4 && at < 0) {
            at = e.step;
            child.kill('SIGKILL');
          }
        }
        buf = buf.slice(buf.lastIndexOf('\n') + 1);
      });
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(at) : reject(new Error(`tune exited without being killed (${String(code)}): ${err}`))));
    });
    expect(killedAt).toBeGreaterThanOrEqual(4);
    expect(existsSync(path.join(runDir, 'reference-logps.json'))).toBe(true);
    const resumed = await resumeTuning(runDir, { threads: 1 });
    expect(resumed.steps).toBe(n);
    const a = steps(whole.runDir);
    const b = steps(runDir);
    expect(b.map((m) => m.step)).toEqual(a.map((m) => m.step));
    a.forEach((m, i) => {
      expect(Math.abs(m.loss! - b[i].loss!)).toBeLessThan(1e-5);
      expect(Math.abs(m.reward_margin! - b[i].reward_margin!)).toBeLessThan(1e-4);
    });
  }, 120_000);

  it('cancel and resume; early stopping on the preference validation loss', async () => {
    const controller = new AbortController();
    const runDir = path.join(tmp, 'cancelled');
    const r = await runTuning({ ...base, method: 'orpo', out: runDir, maxSteps: 12 }, { signal: controller.signal, onEvent: (e) => { if (e.type === 'step' && e.step === 3) controller.abort(); } });
    expect(r).toMatchObject({ stoppedBecause: 'cancelled', steps: 3 });
    expect((await resumeTuning(runDir, { threads: 1 })).steps).toBe(12);
    const es = await runTuning({ ...base, method: 'dpo', learningRate: 2e-2, out: path.join(tmp, 'early'), epochs: 30, evalEvery: 1, earlyStopping: true, patience: 2 });
    expect(es.stoppedBecause).toBe('early-stopping');
    expect(es.bestStep).not.toBeNull();
  });

  it('refuses instruction-only data, and a beta without a preference method', async () => {
    await expect(runTuning({ ...base, data: plain, method: 'dpo', out: path.join(tmp, 'no-pairs'), maxSteps: 1 })).rejects.toThrow(/needs pairs of a better and a worse answer.*line \d+ of .*plain\.jsonl/);
    await expect(runTuning({ ...base, beta: 0.5, out: path.join(tmp, 'beta-sft'), maxSteps: 1 })).rejects.toThrow(/only used with --method dpo or orpo/);
    await expect(runTuning({ ...base, method: 'ppo' as never, out: path.join(tmp, 'ppo'), maxSteps: 1 })).rejects.toThrow(/sft, dpo, orpo/);
  });

  it("DPO with rpoAlpha: the first step's loss is ln 2 + rpoAlpha x the chosen answers' mean NLL per token", async () => {
    // Same seed, same first batch, same starting point: only the weight of the NLL term differs.
    const first = async (rpoAlpha: number) => steps((await runTuning({ ...base, method: 'dpo', rpoAlpha, out: path.join(tmp, `rpo-${rpoAlpha}`), maxSteps: 1 })).runDir)[0];
    const [half, one] = [await first(0.5), await first(1)];
    const nll = (one.loss! - Math.LN2) / 1;
    // A random tiny model: the NLL per token is about ln(vocab).
    expect(nll).toBeGreaterThan(4);
    expect(half.loss!).toBeCloseTo(Math.LN2 + 0.5 * nll, 4);
    expect(one).toMatchObject({ rewards_chosen: 0, rewards_rejected: 0, reward_margin: 0 });
    await expect(runTuning({ ...base, method: 'orpo', rpoAlpha: 1, out: path.join(tmp, 'rpo-orpo'), maxSteps: 1 })).rejects.toThrow(/only used with --method dpo/);
  });
});
