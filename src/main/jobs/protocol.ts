/** Messages between the main process and a tuning worker (utility process or Node child). */
import type { AppError, ExitReason, TuneEvent, TuneOutcome } from '../../shared/contract.js';
import type { TuneJobSpec } from '../engine.js';

export type StopReason = 'cancel' | 'pause';

export type ToWorker = { type: 'start'; spec: TuneJobSpec } | { type: 'stop'; reason: StopReason };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'event'; event: TuneEvent }
  | ({ type: 'result' } & TuneOutcome)
  | { type: 'stopped'; reason: StopReason }
  | { type: 'error'; error: AppError };

/** How a worker process ended, with what it said last. */
export interface JobExit {
  reason: ExitReason;
  message?: string;
  code?: number | null;
  signal?: string | null;
  result?: TuneOutcome;
  error?: AppError;
}

export function isFromWorker(m: unknown): m is FromWorker {
  if (!m || typeof m !== 'object') return false;
  const t = (m as { type?: unknown }).type;
  return t === 'ready' || t === 'event' || t === 'result' || t === 'stopped' || t === 'error';
}
