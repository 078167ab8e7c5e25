/**
 * A worker process seen from main, independent of how it was started: Electron's utilityProcess in
 * the app (electron-runner.ts), Node's child_process.fork in tests and the end-to-end transport
 * (node-runner.ts). `Job` turns what a worker says and how it exits into one typed exit reason.
 */
import type { TuneEvent } from '../../shared/contract.js';
import type { TuneJobSpec } from '../engine.js';
import { isFromWorker, type FromWorker, type JobExit, type StopReason, type ToWorker } from './protocol.js';

export interface WorkerHandle {
  readonly pid?: number;
  post(message: ToWorker): void;
  onMessage(listener: (message: unknown) => void): void;
  /** Called once when the process has ended. */
  onExit(listener: (info: { code: number | null; signal?: string | null }) => void): void;
  /** Ends the process at once. */
  kill(): void;
}

export interface JobRunner {
  /** `env` is added to the worker's environment (it must be known at process start). */
  spawn(env?: Record<string, string>): WorkerHandle;
}

export interface JobCallbacks {
  onEvent(event: TuneEvent): void;
}

export class Job {
  private stopRequested?: StopReason;
  private killed = false;
  private last?: FromWorker;
  private exited = false;
  readonly exit: Promise<JobExit>;

  constructor(
    private readonly handle: WorkerHandle,
    spec: TuneJobSpec,
    callbacks: JobCallbacks,
  ) {
    this.exit = new Promise<JobExit>((resolve) => {
      handle.onMessage((m) => {
        if (!isFromWorker(m)) return;
        if (m.type === 'event') {
          try {
            callbacks.onEvent(m.event);
          } catch {
            /* a listener's failure must not end the job */
          }
        } else if (m.type !== 'ready') {
          this.last = m;
        }
      });
      handle.onExit(({ code, signal }) => {
        this.exited = true;
        resolve(this.classify(code, signal ?? null));
      });
    });
    handle.post({ type: 'start', spec });
  }

  get pid(): number | undefined {
    return this.handle.pid;
  }

  private classify(code: number | null, signal: string | null): JobExit {
    const last = this.last;
    if (last?.type === 'result') return { reason: 'done', code, signal, result: { adapterDir: last.adapterDir, bestStep: last.bestStep, bestValLoss: last.bestValLoss, stoppedBecause: last.stoppedBecause } };
    if (last?.type === 'stopped') return { reason: last.reason === 'pause' ? 'paused' : 'cancelled', code, signal };
    if (last?.type === 'error') return { reason: 'failed', code, signal, error: last.error, message: last.error.message };
    if (this.killed) {
      return {
        reason: 'killed',
        code,
        signal,
        message: this.stopRequested ? 'Training did not stop in time, so it was ended.' : 'Training was ended.',
      };
    }
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    return { reason: 'crashed', code, signal, message: `The training process stopped unexpectedly (${how}).` };
  }

  /**
   * Asks the worker to stop (it writes a checkpoint first when pausing), waits up to `timeoutMs`,
   * then kills it. Resolves with how it ended.
   */
  async stop(reason: StopReason, timeoutMs: number): Promise<JobExit> {
    if (!this.exited && !this.stopRequested) {
      this.stopRequested = reason;
      try {
        this.handle.post({ type: 'stop', reason });
      } catch {
        /* the process may be gone already */
      }
    }
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref?.());
    if ((await Promise.race([this.exit, timer])) === 'timeout') this.kill();
    return this.exit;
  }

  kill(): void {
    if (this.exited) return;
    this.killed = true;
    this.handle.kill();
  }
}
