import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TuneEvent } from '../../src/shared/contract.js';
import { JobManager } from '../../src/main/jobs/manager.js';
import { nodeRunner } from '../../src/main/jobs/node-runner.js';
import type { TuneJobSpec } from '../../src/main/engine.js';
import { PRESETS } from '../../src/shared/presets.js';

const runner = nodeRunner({ workerPath: path.join(import.meta.dirname, 'fixtures', 'scripted-worker.ts') });
const spec = (mode: string): TuneJobSpec => ({
  modelPath: mode,
  dataFile: 'examples.jsonl',
  valFraction: 0.1,
  runDir: '/tmp/run',
  settings: { ...PRESETS.quick.values, rank: 4, learningRate: 1e-3, epochs: 1, batchSize: 1, maxLength: 64, seed: 1, device: 'cpu' },
});

function start(mode: string, stopTimeoutMs = 5000) {
  const jobs = new JobManager(runner, stopTimeoutMs);
  const events: TuneEvent[] = [];
  const exited = new Promise<Parameters<Parameters<JobManager['start']>[3]>[0]>((resolve) => jobs.start('k', spec(mode), (e) => events.push(e), resolve));
  return { jobs, events, exited };
}

describe('job runner (child_process implementation)', () => {
  it('reports events and ends with "done"', async () => {
    const { events, exited, jobs } = start('ok');
    const exit = await exited;
    expect(exit.reason).toBe('done');
    expect(exit.result).toEqual({ adapterDir: '/tmp/run/adapter', bestStep: 5, bestValLoss: 0.5, stoppedBecause: 'finished' });
    expect(events.filter((e) => e.type === 'step').map((e) => (e as { step: number }).step)).toEqual([1, 2, 3, 4, 5]);
    expect(events.at(-1)?.type).toBe('done');
    expect(jobs.active).toEqual([]);
  });

  it('calls a process that exits on its own "crashed", with the exit code', async () => {
    const { exited } = start('crash');
    const exit = await exited;
    expect(exit.reason).toBe('crashed');
    expect(exit.code).toBe(7);
    expect(exit.message).toMatch(/stopped unexpectedly \(exit code 7\)/);
  });

  it('carries an engine error across as "failed" with its plain message', async () => {
    const { exited } = start('fail');
    const exit = await exited;
    expect(exit.reason).toBe('failed');
    expect(exit.error).toMatchObject({ code: 'tune-test', message: 'The test asked this run to fail.' });
  });

  it('pauses and cancels on request', async () => {
    for (const [reason, expected] of [['pause', 'paused'], ['cancel', 'cancelled']] as const) {
      const { jobs, events, exited } = start('slow');
      while (!events.some((e) => e.type === 'step')) await new Promise((r) => setTimeout(r, 10));
      const stopped = await jobs.stop('k', reason);
      expect(stopped?.reason).toBe(expected);
      expect((await exited).reason).toBe(expected);
      expect(events.some((e) => e.type === 'checkpoint')).toBe(true);
    }
  });

  it('kills a worker that does not stop in time, and says so', async () => {
    const { jobs, exited } = start('hang', 300);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const exit = await jobs.stop('k', 'cancel');
    expect(exit?.reason).toBe('killed');
    expect(exit?.message).toMatch(/did not stop in time/);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect((await exited).reason).toBe('killed');
  });

  it('runs one training at a time', async () => {
    const { jobs, exited } = start('slow');
    expect(() => jobs.start('other', spec('ok'), () => {}, () => {})).toThrow(/Another training run/);
    await jobs.stop('k', 'cancel');
    await exited;
  });
});
