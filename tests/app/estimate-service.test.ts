/**
 * The measured time for one pass (src/main/services/estimate.ts): estimateTuneTime runs in a child
 * process (the worker src/main/jobs/estimate-worker.ts) on the tiny real model and the bundled
 * sample, returns figures, answers again from the cache while the data is unchanged, measures
 * again once the data file changes, and can be cancelled.
 */
import { copyFileSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeRunner } from '../../src/main/jobs/node-runner.js';
import { createEstimateService, type EstimateSpec } from '../../src/main/services/estimate.js';
import { PRESETS } from '../../src/shared/presets.js';
import { ROOT, TINY_MODEL } from './harness.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'attune-estimate-svc-'));
const data = path.join(work, 'data.jsonl');
copyFileSync(path.join(ROOT, 'resources/samples/customer-service.jsonl'), data);
let spawned = 0;
const base = nodeRunner({ workerPath: path.join(ROOT, 'src/main/jobs/estimate-worker.ts') });
const svc = createEstimateService({ spawn: (env) => (spawned++, base.spawn(env)) });
const spec: EstimateSpec = { modelPath: TINY_MODEL, dataFile: data, valFraction: 0.1, settings: { ...PRESETS.quick.values, device: 'cpu' } };

afterAll(() => {
  svc.dispose();
  rmSync(work, { recursive: true, force: true });
});

describe('measuring the time for one pass', () => {
  it('measures in a child process, then answers from the cache until the data changes', async () => {
    const steps: number[] = [];
    const e = await svc.measure('p1', spec, (done) => steps.push(done));
    expect(spawned).toBe(1);
    expect(e.secondsPerStep).toBeGreaterThan(0);
    expect(e.trainExamples).toBeGreaterThan(200);
    expect(e.stepsPerEpoch).toBeGreaterThan(0);
    expect(e.epochSeconds).toBeCloseTo(e.secondsPerStep * e.stepsPerEpoch, 6);
    expect(steps.length).toBeGreaterThanOrEqual(2);

    expect(await svc.cached(spec)).toEqual(e);
    expect(await svc.measure('p1', spec)).toEqual(e);
    expect(spawned).toBe(1);

    utimesSync(data, new Date(), new Date(Date.now() + 5000));
    expect(await svc.cached(spec)).toBeUndefined();
  }, 120_000);

  it('can be cancelled, refusing in words', async () => {
    const other: EstimateSpec = { ...spec, settings: { ...spec.settings, learningRate: spec.settings.learningRate * 2 } };
    const p = svc.measure('p2', other);
    await new Promise((r) => setTimeout(r, 300));
    expect(svc.cancel('p2')).toBe(true);
    await expect(p).rejects.toMatchObject({ message: 'The time estimate was cancelled.' });
    expect(await svc.cached(other)).toBeUndefined();
  }, 60_000);
});

describe('the tune.estimate call', () => {
  it('measures for a project and model through the handlers, with progress events', async () => {
    const { createTestApp } = await import('./harness.js');
    const app = await createTestApp();
    try {
      const h = app.handlers;
      await h['projects.create']({ name: 'Timing' });
      const added = await h['data.add']({ project: 'Timing', from: { kind: 'sample' } });
      await h['data.import']({ project: 'Timing', source: added!.source, valFraction: 0.1, seed: 42 });
      app.dialogAnswers.push(TINY_MODEL);
      await h['models.add']({ kind: 'folder' });
      const e = await h['tune.estimate']({ project: 'Timing', modelPath: TINY_MODEL, preset: 'quick', advanced: { device: 'cpu' } });
      expect(e.secondsPerStep).toBeGreaterThan(0);
      expect(e.epochSeconds).toBeCloseTo(e.secondsPerStep * e.stepsPerEpoch, 6);
      expect(app.events.some((x) => x.name === 'tune.estimateProgress')).toBe(true);
      expect(await h['tune.estimateCancel']({ project: 'Timing' })).toEqual({ cancelled: false });
    } finally {
      await app.close();
    }
  }, 120_000);
});
