/** Keeps the running jobs by key (one training at a time) and stops them on request or at quit. */
import { AttuneError } from '../../shared/errors.js';
import type { TuneEvent } from '../../shared/contract.js';
import type { TuneJobSpec } from '../engine.js';
import type { JobExit, StopReason } from './protocol.js';
import { Job, type JobRunner } from './runner.js';
import { tuningProcessEnv } from '../../shared/tuning-env.js';

export class JobManager {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly runner: JobRunner,
    private readonly stopTimeoutMs = 15_000,
  ) {}

  /** Starts a worker for `key`. `onExit` runs once the process has ended and the job is forgotten. */
  start(key: string, spec: TuneJobSpec, onEvent: (e: TuneEvent) => void, onExit: (exit: JobExit) => void): Job {
    if (this.jobs.size > 0) {
      throw new AttuneError('tune.busy');
    }
    const job = new Job(this.runner.spawn(tuningProcessEnv(spec.settings.recomputeActivations)), spec, { onEvent });
    this.jobs.set(key, job);
    void job.exit.then((exit) => {
      this.jobs.delete(key);
      onExit(exit);
    });
    return job;
  }

  get(key: string): Job | undefined {
    return this.jobs.get(key);
  }

  get active(): string[] {
    return [...this.jobs.keys()];
  }

  async stop(key: string, reason: StopReason): Promise<JobExit | undefined> {
    return this.jobs.get(key)?.stop(reason, this.stopTimeoutMs);
  }

  /** At quit: pause every job (so it can resume), killing any that does not stop in time. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.jobs.values()].map((j) => j.stop('pause', this.stopTimeoutMs)));
  }
}
