/**
 * Learning from corrections through the app's handlers (what the Chat step calls), on the real
 * stories260K model with training in a worker process:
 * - thumbs up/down and a correction are saved with the run that answered (provenance) and counted;
 * - "Teach it again" is a run like any other (progress events, state, cancel) that continues the
 *   answering run's adapter on the corrections with originals replayed, and its before/after
 *   counts the corrections the model now gets right (the recipe of tests/app/corrections.test.ts);
 * - a preference run (orpo) in the app records its rewards next to the loss.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/shared/contract.js';
import { createTestApp, TINY_MODEL, type TestApp } from './harness.js';
import { instructionFor, TRAIN_NAMES } from '../helpers/instruction-data.js';
import { OLD_SIGNATURE, PREFERRED_SIGNATURE, signed, writeOldStyleJsonl, writePreferenceJsonl } from '../helpers/preference-data.js';

let app: TestApp;
let h: TestApp['handlers'];
let tmp: string;
const P = 'Notes';

/** Waits for the run to end; its final summary. */
async function finished(runId: string): Promise<RunSummary> {
  for (;;) {
    const s = (await h['tune.runs']({ project: P })).find((r) => r.runId === runId)!;
    if (!['running', 'queued', 'pausing', 'cancelling'].includes(s.state)) return s;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function importFile(project: string, file: string, valFraction: number) {
  const staged = await h['data.add']({ project, from: { kind: 'bytes', name: path.basename(file), base64: readFileSync(file).toString('base64') } });
  return h['data.import']({ project, source: staged!.source, valFraction, seed: 7 });
}

beforeAll(async () => {
  app = await createTestApp();
  h = app.handlers;
  tmp = await mkdtemp(path.join(os.tmpdir(), 'attune-teach-'));
  app.dialogAnswers.push(TINY_MODEL);
  await h['models.add']({ kind: 'folder' });
});
afterAll(async () => {
  await app?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('corrections in the app', () => {
  let first: RunSummary;
  it('rates and corrects answers of a run, with where they came from, and counts them', async () => {
    await h['projects.create']({ name: P });
    const data = path.join(tmp, 'old.jsonl');
    writeOldStyleJsonl(data);
    await importFile(P, data, 0.1);
    const started = await h['tune.start']({
      project: P,
      modelPath: TINY_MODEL,
      preset: 'quick',
      advanced: { epochs: 4, learningRate: 3e-3, batchSize: 8, seed: 1, rank: 16, maxLength: 128, earlyStopping: false, device: 'cpu' },
    });
    first = await finished(started.runId);
    expect(first.state, first.message).toBe('done');

    expect(await h['corrections.list']({ project: P })).toEqual({ corrections: [], ratings: { up: 0, down: 0 } });
    const ask = (name: string, thing: string) => [{ role: 'user' as const, content: instructionFor(name, thing) }];
    const up = await h['corrections.rate']({ project: P, runId: first.runId, which: 'base', prompt: ask('Tom', 'boat'), answer: 'Once upon a time', rating: 'up' });
    expect(up.ratings).toEqual({ up: 1, down: 0 });
    await h['corrections.rate']({ project: P, runId: first.runId, which: 'tuned', prompt: ask('Tom', 'ball'), answer: signed('Tom', 'ball', OLD_SIGNATURE), rating: 'down' });
    const things = ['ball', 'cat', 'dog', 'tree', 'car', 'cake', 'bird'];
    let info;
    for (const [i, thing] of things.entries()) {
      const name = TRAIN_NAMES[i];
      info = await h['corrections.save']({ project: P, runId: first.runId, which: 'tuned', prompt: ask(name, thing), answer: signed(name, thing, OLD_SIGNATURE), corrected: signed(name, thing, PREFERRED_SIGNATURE) });
    }
    expect(info!.corrections).toHaveLength(7);
    expect(info!.ratings).toEqual({ up: 1, down: 1 });
    expect(info!.corrections[0]!.provenance).toMatchObject({ runId: first.runId, adapter: first.adapterDir, which: 'tuned', date: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    // The pairs file is in the project, a preference file the importer reads.
    const pairs = path.join(app.workspace, 'projects', P, 'data', 'corrections', 'pairs.jsonl');
    expect(readFileSync(pairs, 'utf8').trim().split('\n')).toHaveLength(7);
    // Plain-words refusals through the catalogue.
    await expect(h['corrections.save']({ project: P, runId: first.runId, which: 'tuned', prompt: ask('Tom', 'ball'), answer: 'Same.', corrected: 'Same.' })).rejects.toThrow(/same as the model's answer/);
    await expect(h['corrections.compare']({ project: P, runId: first.runId })).rejects.toThrow(/did not learn from your corrections/);
  }, 300_000);

  it('teaches it again: a run continuing the adapter, then before/after with the corrections it now gets right', async () => {
    const progress: string[] = [];
    const l = (name: string, p: unknown) => name === 'tune.progress' && progress.push((p as { event: { type: string } }).event.type);
    app.listeners.add(l);
    const started = await h['corrections.teachAgain']({ project: P, runId: first.runId });
    expect(started).toMatchObject({ state: 'running', continues: first.runId, modelPath: TINY_MODEL });
    const run = await finished(started.runId);
    app.listeners.delete(l);
    expect(run.state, run.message).toBe('done');
    expect(progress).toEqual(expect.arrayContaining(['start', 'step', 'done']));
    // Continued from the adapter (the engine's config records it), sft, 7 corrections + 7 replayed originals.
    const config = JSON.parse(readFileSync(path.join(path.dirname(run.adapterDir!), 'config.json'), 'utf8'));
    expect(config.initAdapter).toBe(first.adapterDir);
    const data = readFileSync(path.join(path.dirname(run.adapterDir!), 'data.jsonl'), 'utf8').trim().split('\n');
    expect(data).toHaveLength(14);

    const report = await h['corrections.compare']({ project: P, runId: run.runId });
    console.log('teach again (app):', JSON.stringify({ corrections: report.corrections, heldOut: report.heldOut }), JSON.stringify(report.rows[0]));
    expect(app.events.filter((e) => e.name === 'corrections.progress').length).toBe(report.rows.length * 2);
    expect(report.fromRunId).toBe(first.runId);
    expect(report.corrections.total).toBe(7);
    expect(report.corrections.rightBefore).toBe(0);
    expect(report.corrections.rightAfter).toBeGreaterThanOrEqual(6);
    const row = report.rows.find((r) => r.kind === 'correction')!;
    expect(row).toMatchObject({ prompt: instructionFor(TRAIN_NAMES[0], 'ball'), expected: signed(TRAIN_NAMES[0], 'ball', PREFERRED_SIGNATURE), rejected: signed(TRAIN_NAMES[0], 'ball', OLD_SIGNATURE) });
    expect(report.heldOut.total).toBeGreaterThan(0);
    // Saved with the run: asked again, the same report, no new answers written.
    const n = app.events.length;
    expect(await h['corrections.compare']({ project: P, runId: run.runId })).toEqual(report);
    expect(app.events.length).toBe(n);
  }, 400_000);

  it('charts preference rewards: an orpo run in the app records reward margin and accuracy per step', async () => {
    await h['projects.create']({ name: 'Pairs' });
    const file = path.join(tmp, 'pairs.jsonl');
    writePreferenceJsonl(file);
    await importFile('Pairs', file, 0);
    const started = await h['tune.start']({ project: 'Pairs', modelPath: TINY_MODEL, preset: 'quick', advanced: { method: 'orpo', beta: 0.1, epochs: 1, batchSize: 8, maxLength: 128, earlyStopping: false, device: 'cpu' } });
    let s: RunSummary;
    for (;;) {
      s = (await h['tune.runs']({ project: 'Pairs' })).find((r) => r.runId === started.runId)!;
      if (!['running', 'queued'].includes(s.state)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(s.state, s.message).toBe('done');
    const steps = (await h['tune.metrics']({ project: 'Pairs', runId: started.runId })).filter((m) => m.loss !== undefined);
    expect(steps.length).toBeGreaterThan(0);
    for (const m of steps) {
      expect(m.rewardMargin).toBeCloseTo(m.rewardsChosen! - m.rewardsRejected!, 5);
      expect(m.rewardAccuracy).toBeGreaterThanOrEqual(0);
      expect(m.rewardAccuracy).toBeLessThanOrEqual(1);
    }
  }, 300_000);
});
