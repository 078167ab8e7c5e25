/** Runs as a person names them: when, how thoroughly, how it ended (not "run-20261204-044140-w083"). */
import type { RunSummary } from '../../shared/contract.js';
import { PRESETS } from '../../shared/presets.js';
import { formatWhen, plural } from './format.js';

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

/** "Tuned on 11 examples (1 held out) from “support.jsonl”, imported 4 Dec, 04:40." */
export function runDataText(r: RunSummary): string {
  if (!r.data) return '';
  const when = r.data.importedAt ? `, imported ${formatWhen(r.data.importedAt)}` : '';
  const verb = r.state === 'running' || r.state === 'queued' || r.state === 'pausing' ? 'Learning from' : 'Tuned on';
  return `${verb} ${plural(r.data.train, 'example')} (${r.data.val} held out) from “${r.data.source}”${when}. The run keeps its own copy of them.`;
}
