/**
 * Preference examples as training rows, and the defaults of each preference method.
 */
import { AttuneError } from '../../shared/errors.js';
import { PREFERENCE_DEFAULTS } from '../../shared/tune-settings.js';
import { tokenizeConversation, type TokenizedConversation } from '../data/index.js';
import type { Example } from '../data/index.js';
import type { TokenizerLike } from '../data/tokenize.js';
import type { PreferenceMethod } from './losses/preference.js';
import type { TrainingHyperparameters } from './hyperparameters.js';

/**
 * Learning rate and passes measured on the bundled tiny model (tests/engine/train/
 * preference-real.test.ts); the rest is shared with instruction tuning. DPO is gentle: it only
 * sees the tokens where chosen and rejected differ, so nothing anchors the rest of the answer,
 * and at 5e-4 x 3 passes (or 1e-3) the tiny model's format broke on held-out prompts while the
 * training margin kept growing; 2e-4 x 1 pass keeps the format.
 */
export const METHOD_DEFAULTS: Record<PreferenceMethod, Partial<TrainingHyperparameters>> = PREFERENCE_DEFAULTS;

/** Rows chosen, rejected, chosen, rejected, ... of the pairs; an example without a rejected answer is an error. */
export function tokenizePairs(tok: TokenizerLike, examples: readonly Example[], file: string): TokenizedConversation[] {
  const rows: TokenizedConversation[] = [];
  for (const e of examples) {
    if (e.rejected === undefined) {
      throw new AttuneError('tune.no-pairs', { file, line: e.source.line }, { file, line: e.source.line });
    }
    rows.push(tokenizeConversation(tok, e.messages));
    rows.push(tokenizeConversation(tok, [...e.messages.slice(0, -1), { role: 'assistant', content: e.rejected }]));
  }
  return rows;
}
