/** Pause, resume, cancel and crash as the UI sees them, with a scripted worker in place of training. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunSummary } from '../../src/shared/contract.js';
import { Workspace } from '../../src/main/workspace.js';
import { createTestApp, TINY_MODEL, type TestApp } from './harness.js';

const MODE = { ok: 0, crash: 1, fail: 3, slow: 4 } as const;

describe('run lifecycle', () => {
  let app: TestApp;
  let h: TestApp['handlers'];
  beforeAll(async () => {
    app = await createTestApp({ workerPath: path.join(import.meta.dirname, 'fixtures', 'scripted-worker.ts') });
    h = app.handlers;
    await h['projects.create']({ name: 'P' });
    // Imported data, as the Data step leaves it.
    const ws = new Workspace(app.workspace);
    await writeFile(ws.examplesFile('P'), '');
    await ws.updateProject('P', { data: { source: 'x.jsonl', train: 9, val: 1, valFraction: 0.1, seed: 42, importedAt: new Date().toISOString() } });
    app.dialogAnswers.push(TINY_MODEL);
    await h['models.add']({ kind: 'folder' });
  });
  afterAll(() => app.close());

  const until = async (runId: string, states: RunSummary['state'][]) => {
    for (;;) {
      const r = (await h['tune.runs']({ project: 'P' })).find((x) => x.runId === runId)!;
      if (states.includes(r.state)) return r;
      await new Promise((res) => setTimeout(res, 25));
    }
  };
  const start = (mode: keyof typeof MODE) => h['tune.start']({ project: 'P', modelPath: TINY_MODEL, preset: 'quick', advanced: { seed: MODE[mode] } });

  it('pauses, then resumes from the checkpoint to the end', async () => {
    const run = await start('slow');
    await until(run.runId, ['running']);
    while (!app.events.some((e) => e.name === 'tune.progress' && (e.payload as { runId: string }).runId === run.runId)) await new Promise((r) => setTimeout(r, 20));
    expect((await h['tune.pause']({ project: 'P', runId: run.runId })).state).toBe('pausing');
    const paused = await until(run.runId, ['paused']);
    expect(paused).toMatchObject({ exitReason: 'paused', resumable: true });
    const resumed = await h['tune.resume']({ project: 'P', runId: run.runId });
    expect(resumed.state).toBe('running');
    const done = await until(run.runId, ['done', 'crashed', 'failed']);
    expect(done, `the resumed run ended ${done.state}: ${done.message ?? 'no message'}`).toMatchObject({ state: 'done', resumable: false });
    const metrics = await h['tune.metrics']({ project: 'P', runId: run.runId });
    expect(metrics.length).toBeGreaterThan(3);
  });

  it('reports a crashed worker and offers to resume when a checkpoint exists', async () => {
    const run = await start('crash');
    const crashed = await until(run.runId, ['crashed']);
    expect(crashed.exitReason).toBe('crashed');
    expect(crashed.message).toMatch(/stopped unexpectedly/);
    expect(crashed.resumable).toBe(false); // it crashed before writing any checkpoint
    await expect(h['tune.resume']({ project: 'P', runId: run.runId })).rejects.toMatchObject({ code: 'run-not-resumable' });
  });

  it('shows an engine error in plain words', async () => {
    const run = await start('fail');
    const failed = await until(run.runId, ['failed']);
    expect(failed.message).toBe('The test asked this run to fail.');
  });

  it('cancels', async () => {
    const run = await start('slow');
    await new Promise((r) => setTimeout(r, 300));
    await h['tune.cancel']({ project: 'P', runId: run.runId });
    expect((await until(run.runId, ['cancelled'])).exitReason).toBe('cancelled');
    await expect(h['tune.pause']({ project: 'P', runId: run.runId })).rejects.toMatchObject({ code: 'run-not-running' });
  });

  it('treats a run left "running" by a closed app as crashed', async () => {
    const other = await createTestApp({ workspace: app.workspace, workerPath: path.join(import.meta.dirname, 'fixtures', 'scripted-worker.ts') });
    const run = await start('slow');
    const seen = (await other.handlers['tune.runs']({ project: 'P' })).find((r) => r.runId === run.runId)!;
    expect(seen).toMatchObject({ state: 'crashed', message: 'Attune closed while this run was training.' });
    await h['tune.cancel']({ project: 'P', runId: run.runId });
    await until(run.runId, ['cancelled']);
    await other.close();
  });
});
