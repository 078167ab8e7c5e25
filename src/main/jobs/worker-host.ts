/**
 * The worker side: listens on the parent port (Electron utility process or Node IPC), runs one
 * tuning job, and reports events and how it ended. Stop requests abort the job's signal; the
 * engine writes a checkpoint before it returns when pausing.
 */
import { isAttuneError, userError } from '../../shared/errors.js';
import type { TuneFn } from '../engine.js';
import type { FromWorker, StopReason, ToWorker } from './protocol.js';

interface Port {
  post(m: FromWorker): Promise<void>;
  on(listener: (m: ToWorker) => void): void;
}

function parentPort(): Port {
  const pp = (process as unknown as { parentPort?: { postMessage(m: unknown): void; on(e: 'message', l: (ev: { data: unknown }) => void): void } }).parentPort;
  if (pp) {
    return {
      post: async (m) => pp.postMessage(m),
      on: (l) => pp.on('message', (ev) => l(ev.data as ToWorker)),
    };
  }
  if (process.send) {
    return {
      post: (m) => new Promise<void>((resolve) => (process.connected ? process.send!(m, undefined, undefined, () => resolve()) : resolve())),
      on: (l) => process.on('message', (m) => l(m as ToWorker)),
    };
  }
  throw new Error('This module must run as a worker process.');
}

export function serveWorker(run: TuneFn): void {
  const port = parentPort();
  const ctl = new AbortController();
  let stopReason: StopReason | undefined;
  let started = false;
  const finish = async (m: FromWorker, code: number) => {
    await port.post(m);
    // Give the message time to leave before the process ends.
    setTimeout(() => process.exit(code), 50);
  };
  port.on((m) => {
    if (m.type === 'stop') {
      stopReason ??= m.reason;
      ctl.abort(m.reason);
      if (!started) void finish({ type: 'stopped', reason: m.reason }, 0);
      return;
    }
    if (m.type !== 'start' || started) return;
    started = true;
    run(m.spec, { onEvent: (event) => void port.post({ type: 'event', event }), signal: ctl.signal }).then(
      (r) => finish(stopReason ? { type: 'stopped', reason: stopReason } : { type: 'result', adapterDir: r.adapterDir, bestStep: r.bestStep, bestValLoss: r.bestValLoss ?? null, stoppedBecause: r.stoppedBecause ?? 'finished' }, 0),
      (err: unknown) => {
        if (stopReason) return finish({ type: 'stopped', reason: stopReason }, 0);
        const error = isAttuneError(err)
          ? { code: err.code, message: err.message, details: err.details }
          : userError('tune.failed', { detail: err instanceof Error ? err.message : String(err) });
        return finish({ type: 'error', error }, 1);
      },
    );
  });
  void port.post({ type: 'ready' });
}
