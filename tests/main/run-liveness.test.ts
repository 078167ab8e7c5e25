/**
 * A run's record says "running" while its job lives; one that says so with no job belongs to an
 * app that closed mid-run and shows as crashed. A job that starts or ends while the record is
 * being read must not be mistaken for that (a resumed run once showed "crashed" for a moment).
 */
import { describe, expect, it } from 'vitest';
import type { JobExit } from '../../src/main/jobs/protocol.js';
import type { JobManager } from '../../src/main/jobs/manager.js';
import type { RunRecord, RunStore } from '../../src/main/runs.js';
import { TuneRuns } from '../../src/main/services/tuning.js';

const deferred = <T>() => {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
};

const record = (state: RunRecord['state']): RunRecord =>
  ({ project: 'P', runId: 'r1', state, startedAt: '2026-12-05T00:00:00.000Z', spec: { settings: {} }, lastCheckpoint: '/ckpt' }) as unknown as RunRecord;

/** A job manager holding at most one job, ended by hand. */
function fakeJobs() {
  const live = new Map<string, (exit: JobExit) => void>();
  const jobs = {
    get: (key: string) => (live.has(key) ? {} : undefined),
    get active() {
      return [...live.keys()];
    },
    start: (key: string, _spec: unknown, _onEvent: unknown, onExit: (exit: JobExit) => void) => {
      live.set(key, onExit);
      return {};
    },
    stop: async () => undefined,
  };
  const end = (key: string, exit: JobExit) => {
    const onExit = live.get(key)!;
    live.delete(key);
    onExit(exit);
  };
  return { jobs: jobs as unknown as JobManager, end };
}

describe('a run read while its job starts or ends', () => {
  it('is not "left running" when the job ends during the read', async () => {
    const { jobs, end } = fakeJobs();
    let onDisk = record('running');
    const slowList = deferred<RunRecord[]>();
    const store = {
      list: () => slowList.promise,
      read: async () => onDisk,
      write: async (r: RunRecord) => (onDisk = r),
      update: async (_p: string, _id: string, patch: Partial<RunRecord>) => (onDisk = { ...onDisk, ...patch }),
      appendMetric: async () => undefined,
    } as unknown as RunStore;
    const runs = new TuneRuns(store, jobs, () => undefined);
    await runs.start(record('running'));

    const listed = runs.list('P'); // reads the record as "running"...
    const staleRead = onDisk;
    end('P/r1', { reason: 'done' } as JobExit); // ...the job ends and its final state is written...
    await new Promise((r) => setTimeout(r, 10));
    expect(onDisk.state).toBe('done');
    slowList.resolve([staleRead]); // ...and the read comes back a moment old.
    const [seen] = await listed;
    expect(seen).toMatchObject({ state: 'running' });
    expect(await runs.summary('P', 'r1')).toMatchObject({ state: 'done', resumable: false });
  });

  it('is not "left running" while it is being started', async () => {
    const { jobs } = fakeJobs();
    let onDisk = record('paused');
    const writeReturns = deferred<void>();
    const store = {
      list: async () => [onDisk],
      read: async () => onDisk,
      // The file is in place before the write's promise settles.
      write: async (r: RunRecord) => {
        onDisk = r;
        await writeReturns.promise;
        return r;
      },
    } as unknown as RunStore;
    const runs = new TuneRuns(store, jobs, () => undefined);
    const started = runs.start(record('running'));
    await new Promise((r) => setTimeout(r, 10));
    expect(onDisk.state).toBe('running');
    expect((await runs.list('P'))[0]).toMatchObject({ state: 'running' });
    writeReturns.resolve();
    expect(await started).toMatchObject({ state: 'running', jobId: 'r1' });
    expect(await runs.summary('P', 'r1')).toMatchObject({ state: 'running', jobId: 'r1' });
  });

  it('is "left running" when no job has it before or after the read', async () => {
    const store = { list: async () => [record('running')] } as unknown as RunStore;
    const runs = new TuneRuns(store, fakeJobs().jobs, () => undefined);
    expect((await runs.list('P'))[0]).toMatchObject({ state: 'crashed', message: 'Attune closed while this run was training.', resumable: true });
  });
});
