/**
 * Entry of the time-measuring process (built to out/main/estimate-worker.js): a few real training
 * steps with the run's settings (engine estimateTuneTime), never in the main process.
 * Messages: in {type:'start', spec} / {type:'stop'}; out {type:'estimate-step'}, {type:'estimate'}, {type:'error'}.
 */
import { estimateTuneTime } from '../../engine/index.js';
import { isAttuneError, userError } from '../../shared/errors.js';
import { toTuneConfig } from '../engine-facade.js';
import type { TuneJobSpec } from '../engine.js';

type In = { type: 'start'; spec: TuneJobSpec } | { type: 'stop' };

function post(m: unknown): Promise<void> {
  const pp = (process as unknown as { parentPort?: { postMessage(m: unknown): void } }).parentPort;
  if (pp) {
    pp.postMessage(m);
    return new Promise((resolve) => setTimeout(resolve, 50));
  }
  return new Promise((resolve) => (process.send && process.connected ? process.send(m, undefined, undefined, () => resolve()) : resolve()));
}

function onMessage(l: (m: In) => void): void {
  const pp = (process as unknown as { parentPort?: { on(e: 'message', l: (ev: { data: unknown }) => void): void } }).parentPort;
  if (pp) pp.on('message', (ev) => l(ev.data as In));
  else process.on('message', (m) => l(m as In));
}

const ctl = new AbortController();
let started = false;
onMessage((m) => {
  if (m.type === 'stop') {
    ctl.abort();
    if (!started) void post({ type: 'error', error: userError('tune.estimate-cancelled', {}) }).finally(() => process.exit(0));
    return;
  }
  if (m.type !== 'start' || started) return;
  started = true;
  estimateTuneTime(toTuneConfig(m.spec), { signal: ctl.signal, onStep: (done, of) => void post({ type: 'estimate-step', done, of }) })
    .then(
      (estimate) => post({ type: 'estimate', estimate }),
      (err: unknown) =>
        post({
          type: 'error',
          error: isAttuneError(err) ? { code: err.code, message: err.message, details: err.details } : userError('tune.failed', { detail: err instanceof Error ? err.message : String(err) }),
        }),
    )
    .finally(() => setTimeout(() => process.exit(0), 50));
});
void post({ type: 'ready' });
