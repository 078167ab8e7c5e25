/**
 * Preference tuning on a real base model (stories260K).
 * - ORPO from the base alone (defaults) learns the format, the preferred signature ("Love, Sue.")
 *   and to stop, on held-out prompts.
 * - DPO (defaults, --init-adapter) from an adapter tuned (SFT) to sign "From Tom.": the first
 *   step's loss is ln 2 (the policy starts at the reference), the reference log-probabilities are
 *   saved with the run, and on held-out prompts the old signature is gone while the format and
 *   the stop are kept. What it does NOT do on this model: write the preferred signature instead.
 *   The SFT adapter gives "Love" almost no probability after "here.", and DPO, which sees only the
 *   tokens where chosen and rejected differ, lowers "From" until the model stops there (the
 *   runner-up) long before "Love" wins; higher learning rates or more passes broke the format
 *   (measured: 5e-4 x 3 passes, 1e-3; also with a first tune that had seen the preferred
 *   signature on a quarter of its examples, at most 38% preferred with the format broken).
 * - The standard remedy, TRL's rpo_alpha (`rpoAlpha`: add alpha x the chosen answers' mean NLL per
 *   token to the DPO loss, so the first step's loss is ln 2 + alpha x that NLL): with alpha 1 and
 *   learning rate 1e-3 (1 pass) DPO from the same SFT adapter does write the preferred signature.
 *   Measured: 100% preferred, 96% format, 0% old, 100% stopped; at the DPO default 2e-4 it
 *   was half-way (8% preferred, 33% stopped), at 2e-3 x 2 passes 88% preferred and 88% format.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatSession } from '../../../src/engine/generate/chat-session.js';
import { runTuning, type TuneResult } from '../../../src/engine/train/tune.js';
import { STORIES260K_HF_DIR } from '../../helpers/tiny-model.js';
import { HELD_OUT_NAMES, instructionFor, THINGS } from '../../helpers/instruction-data.js';
import { OLD_SIGNATURE, PREFERRED_SIGNATURE, writeOldStyleJsonl, writePreferenceJsonl } from '../../helpers/preference-data.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-pref-real-'));
const sftData = path.join(tmp, 'old.jsonl');
const prefData = path.join(tmp, 'pairs.jsonl');
let sft: TuneResult;
let dpo: TuneResult;
let orpo: TuneResult;

beforeAll(async () => {
  process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
  writeOldStyleJsonl(sftData);
  writePreferenceJsonl(prefData);
  // The first tune (instruction tuning, as the SFT proof tunes it): signs "From Tom.".
  sft = await runTuning({ model: STORIES260K_HF_DIR, data: sftData, out: path.join(tmp, 'sft'), epochs: 4, learningRate: 3e-3, batchSize: 8, seed: 1, threads: 2 });
  dpo = await runTuning({ model: STORIES260K_HF_DIR, data: prefData, out: path.join(tmp, 'dpo'), method: 'dpo', initAdapter: sft.adapterDir, threads: 2 });
  orpo = await runTuning({ model: STORIES260K_HF_DIR, data: prefData, out: path.join(tmp, 'orpo'), method: 'orpo', threads: 2 });
}, 600_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const heldOut = HELD_OUT_NAMES.flatMap((name) => THINGS.slice(0, 3).map((thing) => ({ name, thing, prompt: instructionFor(name, thing) })));

async function rates(adapterDir?: string) {
  const s = await ChatSession.open({ modelPath: STORIES260K_HF_DIR, adapterDir, device: 'cpu' });
  let format = 0;
  let preferred = 0;
  let old = 0;
  let stopped = 0;
  const samples: string[] = [];
  for (const h of heldOut) {
    const a = await s.generate([{ role: 'user', content: h.prompt }], { maxTokens: 48 });
    const text = a.text.trim();
    // The format as the SFT proof checks it (the tiny model copies unseen names imperfectly).
    if (text.startsWith('Dear ') && text.includes(`the ${h.thing} is here.`)) format++;
    if (text.endsWith(PREFERRED_SIGNATURE)) preferred++;
    if (text.endsWith(OLD_SIGNATURE)) old++;
    if (a.stoppedBy === 'stop-token') stopped++;
    if (samples.length < 3) samples.push(text);
  }
  await s.close();
  const n = heldOut.length;
  return { format: format / n, preferred: preferred / n, old: old / n, stopped: stopped / n, samples };
}

const metrics = (dir: string) => readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);

describe('preference tuning stories260K', () => {
  it('DPO: the first step starts at ln 2, rewards separate, and the reference is saved with the run', () => {
    const m = metrics(dpo.runDir).filter((r) => r.loss !== undefined);
    expect(m[0].loss).toBeCloseTo(Math.LN2, 4);
    expect(m[0].rewards_chosen).toBeCloseTo(0, 4);
    expect(m[0].rewards_rejected).toBeCloseTo(0, 4);
    const last = m[m.length - 1];
    expect(last.reward_margin).toBeGreaterThan(1);
    expect(last.reward_accuracy).toBe(1);
    expect(last.loss).toBeLessThan(0.1);
    expect(existsSync(path.join(dpo.runDir, 'reference-logps.json'))).toBe(true);
    console.log('DPO metrics first/last', JSON.stringify(m[0]), JSON.stringify(last));
  });

  it('DPO from the SFT adapter drops the rejected signature on held-out prompts, keeping the format and the stop', async () => {
    const before = await rates(sft.adapterDir);
    const after = await rates(dpo.adapterDir);
    console.log('SFT adapter (before DPO):', JSON.stringify(before));
    console.log('after DPO:', JSON.stringify(after));
    expect(before.old).toBeGreaterThanOrEqual(0.9);
    expect(before.preferred).toBe(0);
    expect(after.old).toBe(0);
    expect(after.format).toBeGreaterThanOrEqual(0.9);
    expect(after.stopped).toBeGreaterThanOrEqual(0.9);
    // Not reached on this model (see the note at the top): the preferred signature itself.
    expect(after.preferred).toBeLessThan(0.9);
  }, 120_000);

  it('DPO with rpoAlpha 1 (the chosen answers\' NLL added) from the same SFT adapter writes the preferred signature', async () => {
    const r = await runTuning({ model: STORIES260K_HF_DIR, data: prefData, out: path.join(tmp, 'rpo'), method: 'dpo', rpoAlpha: 1, learningRate: 1e-3, initAdapter: sft.adapterDir, threads: 2 });
    const m = metrics(r.runDir).filter((x) => x.loss !== undefined);
    const dpoFirst = metrics(dpo.runDir).filter((x) => x.loss !== undefined)[0];
    // Same first batch and starting point as the plain DPO run: ln 2 plus the chosen answers' NLL.
    expect(m[0].rewards_chosen).toBeCloseTo(0, 4);
    expect(dpoFirst.loss).toBeCloseTo(Math.LN2, 4);
    expect(m[0].loss).toBeGreaterThan(Math.LN2 + 0.5);
    const after = await rates(r.adapterDir);
    console.log('after DPO + rpoAlpha 1:', JSON.stringify(after), 'metrics first/last', JSON.stringify(m[0]), JSON.stringify(m[m.length - 1]));
    expect(after.old).toBe(0);
    expect(after.preferred).toBeGreaterThanOrEqual(0.9);
    expect(after.format).toBeGreaterThanOrEqual(0.9);
    expect(after.stopped).toBeGreaterThanOrEqual(0.9);
  }, 180_000);

  it('ORPO from the base alone learns the format, the preferred signature and to stop', async () => {
    const base = await rates();
    const after = await rates(orpo.adapterDir);
    const m = metrics(orpo.runDir).filter((r) => r.loss !== undefined);
    console.log('base:', JSON.stringify(base));
    console.log('after ORPO:', JSON.stringify(after), 'metrics first/last', JSON.stringify(m[0]), JSON.stringify(m[m.length - 1]));
    expect(base.format).toBe(0);
    expect(after.format).toBeGreaterThanOrEqual(0.9);
    expect(after.preferred).toBeGreaterThanOrEqual(0.9);
    expect(after.stopped).toBeGreaterThanOrEqual(0.9);
    expect(m[m.length - 1].reward_accuracy).toBe(1);
  }, 120_000);
});
