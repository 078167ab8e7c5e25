/**
 * Runs tied to the data they were tuned on (issue #19, items 13 and 14): replacing the examples
 * while a tune runs needs the person's yes; the run keeps its own copy, and its held-out examples
 * come from that copy, not from the new file; a run that is not training can be discarded.
 */
import { mkdir, readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/shared/contract.js';
import { Workspace } from '../../src/main/workspace.js';
import { discardRun } from '../../src/main/services/run-data.js';
import { createTestApp, ROOT, TINY_MODEL, type TestApp } from './harness.js';

const SUPPORT = path.join(ROOT, 'tests', 'app', 'fixtures', 'support.jsonl');
const SLOW = 4; // the scripted worker's mode, chosen by the seed

describe('runs and their data', () => {
  let app: TestApp;
  let h: TestApp['handlers'];
  let dir: string;
  beforeAll(async () => {
    app = await createTestApp({ workerPath: path.join(import.meta.dirname, 'fixtures', 'scripted-worker.ts') });
    h = app.handlers;
    dir = await mkdtemp(path.join(os.tmpdir(), 'attune-rundata-'));
    await h['projects.create']({ name: 'R' });
    app.dialogAnswers.push(SUPPORT, TINY_MODEL);
    const s = await h['data.add']({ project: 'R', from: { kind: 'dialog' } });
    await h['data.import']({ project: 'R', source: s!.source, valFraction: 0.3, seed: 42 });
    await h['models.add']({ kind: 'folder' });
  });
  afterAll(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const until = async (runId: string, states: RunSummary['state'][]) => {
    for (;;) {
      const r = (await h['tune.runs']({ project: 'R' })).find((x) => x.runId === runId)!;
      if (states.includes(r.state)) return r;
      await new Promise((res) => setTimeout(res, 25));
    }
  };

  it('asks before replacing data a running tune uses; the run keeps its own copy and held-out examples', async () => {
    const before = await readFile(new Workspace(app.workspace).examplesFile('R'), 'utf8');
    const run = await h['tune.start']({ project: 'R', modelPath: TINY_MODEL, preset: 'quick', advanced: { seed: SLOW } });
    expect(run.data).toMatchObject({ source: 'support.jsonl' });
    const other = path.join(dir, 'other.jsonl');
    await writeFile(other, Array.from({ length: 8 }, (_, i) => JSON.stringify({ instruction: `New question ${i}?`, output: `New answer ${i}.` })).join('\n') + '\n');
    app.dialogAnswers.push(other);
    const s = await h['data.add']({ project: 'R', from: { kind: 'dialog' } });
    await expect(h['data.import']({ project: 'R', source: s!.source, valFraction: 0.3, seed: 42 })).rejects.toMatchObject({ code: 'data.replace-while-tuning' });
    // Refusing, the data stayed.
    expect(await readFile(new Workspace(app.workspace).examplesFile('R'), 'utf8')).toBe(before);
    await h['data.import']({ project: 'R', source: s!.source, valFraction: 0.3, seed: 42, replaceWhileTuning: true });
    // The run reads its own copy, made when it started.
    const rec = JSON.parse(await readFile(path.join(new Workspace(app.workspace).runDir('R', run.runId), 'run.json'), 'utf8')) as { spec: { dataFile: string } };
    expect(path.dirname(rec.spec.dataFile)).toBe(new Workspace(app.workspace).runDir('R', run.runId));
    expect(await readFile(rec.spec.dataFile, 'utf8')).toBe(before);
    const heldOut = await h['tune.heldOut']({ project: 'R', runId: run.runId, limit: 10 });
    expect(heldOut.length).toBeGreaterThan(0);
    const original = await readFile(SUPPORT, 'utf8');
    for (const ex of heldOut) {
      const q = ex.messages.find((m) => m.role === 'user')!.content;
      expect(q).not.toMatch(/^New question/);
      expect(original).toContain(JSON.stringify(q).slice(1, -1));
    }

    // Fault 14: a live run cannot be discarded; once stopped it can, and is gone from the list.
    await expect(h['tune.discard']({ project: 'R', runId: run.runId })).rejects.toMatchObject({ code: 'run.discard-live' });
    await h['tune.cancel']({ project: 'R', runId: run.runId });
    await until(run.runId, ['cancelled']);
    expect(await h['tune.discard']({ project: 'R', runId: run.runId })).toEqual({ discarded: true });
    expect((await h['tune.runs']({ project: 'R' })).some((r) => r.runId === run.runId)).toBe(false);
    await expect(h['tune.discard']({ project: 'R', runId: run.runId })).rejects.toMatchObject({ code: 'run-missing' });
  });

  it("discarding a run also has the engine forget the cached copy of the run's prepared data", async () => {
    const runDir = path.join(dir, 'run-to-discard');
    await mkdir(runDir);
    await writeFile(path.join(runDir, 'data.jsonl'), '{}\n');
    const forgotten: string[] = [];
    const engine = { forgetRunData: async (d: string) => void forgotten.push(d) };
    await expect(discardRun(engine, runDir, true)).rejects.toMatchObject({ code: 'run.discard-live' });
    expect(forgotten).toEqual([]);
    expect(await discardRun(engine, runDir, false)).toEqual({ discarded: true });
    expect(forgotten).toEqual([runDir]);
    expect(existsSync(runDir)).toBe(false);
  });
});
