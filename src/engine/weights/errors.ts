// Errors raised while reading or writing weight files: AttuneErrors whose catalogue entry
// (src/shared/diagnostics.ts, area `weights`) says what kind of fault it is. Each carries the file
// and the field or tensor at fault, and a plain-language message that starts with the file's
// name so a user can tell which of several files is broken.
import { basename } from 'node:path';
import { AttuneError } from '../../shared/errors.js';

export type WeightsErrorCode =
  | 'weights.io' // the file could not be read or written
  | 'weights.corrupt' // structure is inconsistent: truncated, overlapping, bad header
  | 'weights.unsupported' // well-formed, but uses something Attune cannot handle yet
  | 'weights.mismatch'; // inputs disagree with each other (shapes, names, config)

export class WeightsError extends AttuneError {
  declare readonly code: WeightsErrorCode;
  constructor(
    code: WeightsErrorCode,
    readonly file: string,
    /** the tensor, metadata key or config field at fault, when there is one */
    readonly field: string | undefined,
    detail: string,
  ) {
    super(code, { name: basename(file), detail }, field === undefined ? { file } : { file, field });
    this.name = 'WeightsError';
  }
}

export const corrupt = (file: string, field: string | undefined, detail: string): WeightsError =>
  new WeightsError('weights.corrupt', file, field, detail);

export const unsupported = (file: string, field: string | undefined, detail: string): WeightsError =>
  new WeightsError('weights.unsupported', file, field, detail);

export const mismatch = (file: string, field: string | undefined, detail: string): WeightsError =>
  new WeightsError('weights.mismatch', file, field, detail);
