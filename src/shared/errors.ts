/**
 * An error meant for a person. Its message comes from the catalogue (src/shared/diagnostics.ts):
 * `new AttuneError('<area>.<name>', params, details)` renders the entry's template with `params`,
 * and `code` is the entry's error code, so the CLI and the UI show the same words and code.
 */
import { ZodError } from 'zod';
import { DIAGNOSTICS, formatDiagnostic, type DiagnosticCode, type DiagnosticParams } from './diagnostics.js';

export interface ErrorDetails {
  file?: string;
  line?: number;
  field?: string;
}

export class AttuneError extends Error {
  /** The code the CLI's --json output and the app's errors carry (the entry's `errorCode`). */
  readonly code: string;
  constructor(
    /** The catalogue entry. */
    readonly id: DiagnosticCode,
    params: DiagnosticParams = {},
    readonly details: ErrorDetails = {},
  ) {
    super(formatDiagnostic(id, params));
    this.name = 'AttuneError';
    this.code = DIAGNOSTICS[id].errorCode;
  }

  /**
   * An error whose words were already written for a person elsewhere: a data problem rendered
   * from this catalogue, or a validation message of the IPC contract. `id` gives the code (and
   * the words, should the message be empty).
   */
  static rendered(id: DiagnosticCode, message: string, details: ErrorDetails = {}): AttuneError {
    const e = new AttuneError(id, {}, details);
    if (message) e.message = message;
    return e;
  }
}

/** AttuneError and its kin (WeightsError), also across realms where `instanceof` fails. */
export function isAttuneError(err: unknown): err is AttuneError {
  return err instanceof AttuneError || (err instanceof Error && (err.name === 'AttuneError' || err.name === 'WeightsError') && typeof (err as { code?: unknown }).code === 'string');
}

/** What a person is shown for any thrown value: the one conversion for the CLI and the app. */
export interface UserError {
  code: string;
  message: string;
  details?: ErrorDetails;
}

/**
 * Any thrown value as a plain message and a code. Attune's own errors keep their words; a request
 * that failed validation (zod) names the field; a missing file names it; anything else is an
 * internal error ("Something went wrong inside Attune: ...").
 */
export function toUserError(err: unknown): UserError {
  if (isAttuneError(err)) return { code: err.code, message: err.message, details: err.details };
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    const where = issue?.path.length ? ` (${issue.path.join('.')})` : '';
    return userError('app.bad-request', { where, issue: issue?.message ?? 'unknown problem' });
  }
  const e = err as { code?: unknown; path?: unknown; message?: unknown } | undefined;
  if (err instanceof Error && e?.code === 'ENOENT') return userError('app.file-not-found', { path: typeof e.path === 'string' ? e.path : err.message });
  return userError('app.internal', { detail: err instanceof Error ? err.message : String(err) });
}

/** A catalogue entry as a plain message and its error code, for errors that are not thrown. */
export function userError(id: DiagnosticCode, params: DiagnosticParams = {}): UserError {
  return { code: DIAGNOSTICS[id].errorCode, message: formatDiagnostic(id, params) };
}
