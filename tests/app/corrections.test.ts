/**
 * Learning from corrections, as the app's main process does it (plain functions over the
 * project folder): a thumbs-down answer corrected is saved both as an instruction example and as
 * a preference pair with its provenance; "teach it again" continues the adapter on the
 * corrections with originals replayed, and the before/after comparison counts the corrections the
 * model now gets right (real stories260K model).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDataFile, readNormalizedJsonl, runTuning, type TuneResult } from '../../src/engine/index.js';
import { listCorrections, rateAnswer, saveCorrection, teachAgain, teachAgainData } from '../../src/main/services/corrections.js';
import { STORIES260K_HF_DIR } from '../helpers/tiny-model.js';
import { instructionFor, TRAIN_NAMES } from '../helpers/instruction-data.js';
import { OLD_SIGNATURE, PREFERRED_SIGNATURE, signed, writeOldStyleJsonl } from '../helpers/preference-data.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-corr-'));
const project = path.join(tmp, 'project');
let first: TuneResult;
const provenance = (runId: string) => ({ runId, adapter: 'adapter', which: 'tuned' as const, date: '2026-12-04T12:00:00.000Z' });

beforeAll(async () => {
  process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
  const data = path.join(tmp, 'old.jsonl');
  writeOldStyleJsonl(data);
  first = await runTuning({ model: STORIES260K_HF_DIR, data, out: path.join(tmp, 'first'), epochs: 4, learningRate: 3e-3, batchSize: 8, seed: 1, threads: 2 });
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('corrections', () => {
  it('a correction is saved as an instruction example and as a preference pair, with provenance; re-correcting replaces it', async () => {
    const prompt = [{ role: 'user' as const, content: instructionFor('Tom', 'ball') }];
    await rateAnswer(project, { prompt, answer: signed('Tom', 'ball', OLD_SIGNATURE), rating: 'down', provenance: provenance('first') });
    await saveCorrection(project, { prompt, answer: signed('Tom', 'ball', OLD_SIGNATURE), corrected: 'Dear Tom, the ball is here. Love, Ann.', provenance: provenance('first') });
    await saveCorrection(project, { prompt, answer: signed('Tom', 'ball', OLD_SIGNATURE), corrected: signed('Tom', 'ball', PREFERRED_SIGNATURE), provenance: provenance('first') });
    const list = await listCorrections(project);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ corrected: signed('Tom', 'ball', PREFERRED_SIGNATURE), answer: signed('Tom', 'ball', OLD_SIGNATURE), provenance: provenance('first') });
    const dir = path.join(project, 'data', 'corrections');
    const examples = await readNormalizedJsonl(path.join(dir, 'examples.jsonl'));
    expect(examples[0].messages[1].content).toBe(signed('Tom', 'ball', PREFERRED_SIGNATURE));
    // The pairs file is an ordinary preference file: the importer reads it.
    const r = await importDataFile(path.join(dir, 'pairs.jsonl'), { out: path.join(tmp, 'pairs-imported.jsonl') });
    expect(r).toMatchObject({ format: 'preference', counts: { imported: 1 } });
    expect(readFileSync(path.join(dir, 'ratings.jsonl'), 'utf8')).toContain('"rating":"down"');
    await expect(saveCorrection(project, { prompt, answer: 'Same.', corrected: ' Same. ', provenance: provenance('first') })).rejects.toThrow(/same as the model's answer/);
    await expect(saveCorrection(project, { prompt: [], answer: 'a', corrected: 'b', provenance: provenance('first') })).rejects.toThrow(/no question/);
  });

  it('teach-again data: every correction plus replayed originals, never a corrected prompt twice', async () => {
    const originals = TRAIN_NAMES.slice(0, 10).map((n) => ({ messages: [{ role: 'user' as const, content: instructionFor(n, 'ball') }, { role: 'assistant' as const, content: signed(n, 'ball', OLD_SIGNATURE) }] }));
    const d = await teachAgainData(project, originals, { replay: 3 });
    expect(d).toMatchObject({ corrections: 1, replayed: 3 });
    const rows = readFileSync(d.file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.filter((x) => x.messages[0].content === instructionFor('Tom', 'ball'))).toHaveLength(1);
  });

  it('teach it again: the corrected prompts are answered the corrected way afterwards, side by side with before', async () => {
    const things = ['cat', 'dog', 'tree', 'car', 'cake', 'bird'];
    for (const [i, thing] of things.entries()) {
      const name = TRAIN_NAMES[i + 1];
      const prompt = [{ role: 'user' as const, content: instructionFor(name, thing) }];
      await saveCorrection(project, { prompt, answer: signed(name, thing, OLD_SIGNATURE), corrected: signed(name, thing, PREFERRED_SIGNATURE), provenance: provenance('first') });
    }
    const report = await teachAgain({ projectDir: project, modelPath: STORIES260K_HF_DIR, adapterDir: first.adapterDir, examplesFile: path.join(first.runDir, 'data.jsonl'), out: path.join(tmp, 'again'), settings: { threads: 2 } });
    console.log('teach again:', JSON.stringify({ corrections: report.corrections, heldOut: report.heldOut }), JSON.stringify(report.rows.slice(0, 2)));
    expect(report.corrections.total).toBe(7);
    expect(report.corrections.rightBefore).toBe(0);
    expect(report.corrections.rightAfter).toBeGreaterThanOrEqual(6);
    expect(report.rows.every((r) => typeof r.before === 'string' && typeof r.after === 'string')).toBe(true);
    expect(report.heldOut.total).toBeGreaterThan(0);
  }, 300_000);
});
