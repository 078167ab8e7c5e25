/** Runs as a person names them: when, how thoroughly, how it ended (not "run-20261204-044140-w083"). */
import type { RunSummary } from '../../shared/contract.js';
import { PRESETS } from '../../shared/presets.js';
import { formatWhen } from './format.js';

export const STATE_TEXT: Record<RunSummary['state'], string> = {
  queued: 'Waiting to start',
  running: 'Training',
  pausing: 'Pausing (saving progress)…',
  paused: 'Paused',
  cancelling: 'Stopping…',
  cancelled: 'Cancelled',
  done: 'Finished',
  failed: 'Stopped with an error',
  crashed: 'Stopped unexpectedly',
};

/** "Quick run of 4 Dec, 04:41". */
export function runTitle(r: RunSummary): string {
  return `${PRESETS[r.preset]?.title ?? r.preset} run of ${formatWhen(r.startedAt)}`;
}

/** "Quick run of 4 Dec, 04:41 (finished, held-out loss 1.234)". */
export function runLabel(r: RunSummary): string {
  const result = r.state === 'done' && r.bestValLoss != null ? `, held-out loss ${r.bestValLoss.toFixed(3)}` : '';
  return `${runTitle(r)} (${STATE_TEXT[r.state].toLowerCase()}${result})`;
}
