/**
 * The measured time for one pass over the data (engine estimateTuneTime), run in a worker process
 * so the window never freezes; cancellable; cached per model + settings while the data file is
 * unchanged (its size and modification time are part of the key).
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { TuneEstimate } from '../../engine/index.js';
import { AttuneError, type UserError } from '../../shared/errors.js';
import type { TuneJobSpec } from '../engine.js';
import type { JobRunner, WorkerHandle } from '../jobs/runner.js';

type FromEstimate = { type: 'ready' } | { type: 'estimate-step'; done: number; of: number } | { type: 'estimate'; estimate: TuneEstimate } | { type: 'error'; error: UserError };

export type EstimateSpec = Omit<TuneJobSpec, 'runDir' | 'resume'>;

export function createEstimateService(runner: JobRunner) {
  const cache = new Map<string, TuneEstimate>();
  const running = new Map<string, { handle: WorkerHandle; done: Promise<TuneEstimate> }>();

  async function keyOf(spec: EstimateSpec): Promise<string> {
    const s = await stat(spec.dataFile);
    const { seed: _seed, ...settings } = spec.settings;
    return createHash('sha256')
      .update(JSON.stringify([spec.modelPath, spec.dataFile, s.size, s.mtimeMs, spec.valFraction, spec.template ?? null, settings]))
      .digest('hex');
  }

  return {
    /** The cached figures for these settings, if measured while the data was as it is now. */
    async cached(spec: EstimateSpec): Promise<TuneEstimate | undefined> {
      return cache.get(await keyOf(spec));
    },

    /** Measures (or answers from the cache); `key` names the measurement for cancel(). */
    async measure(key: string, spec: EstimateSpec, onStep?: (done: number, of: number) => void): Promise<TuneEstimate> {
      const k = await keyOf(spec);
      const hit = cache.get(k);
      if (hit) return hit;
      const busy = running.get(key);
      if (busy) return busy.done;
      const handle = runner.spawn();
      const done = new Promise<TuneEstimate>((resolve, reject) => {
        let last: FromEstimate | undefined;
        handle.onMessage((raw) => {
          const m = raw as FromEstimate;
          if (m?.type === 'estimate-step') onStep?.(m.done, m.of);
          else if (m?.type === 'estimate' || m?.type === 'error') last = m;
        });
        handle.onExit(({ code, signal }) => {
          running.delete(key);
          if (last?.type === 'estimate') {
            cache.set(k, last.estimate);
            resolve(last.estimate);
          } else if (last?.type === 'error') reject(Object.assign(new Error(last.error.message), last.error));
          else reject(new AttuneError('tune.failed', { detail: `the measuring process stopped unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`})` }));
        });
      });
      running.set(key, { handle, done });
      handle.post({ type: 'start', spec: { ...spec, runDir: '' } });
      return done;
    },

    /** Stops a measurement; it then rejects with tune.estimate-cancelled's words. */
    cancel(key: string): boolean {
      const r = running.get(key);
      if (!r) return false;
      r.handle.post({ type: 'stop', reason: 'cancel' });
      setTimeout(() => r.handle.kill(), 10_000).unref?.();
      return true;
    },

    dispose(): void {
      for (const r of running.values()) r.handle.kill();
    },
  };
}
