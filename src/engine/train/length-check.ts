/**
 * Before a run starts: how many of the imported examples fit the chosen max length with the
 * model's own tokenizer and chat template, and a max length that keeps more of them.
 */
import { stat } from 'node:fs/promises';
import { checkDataFile } from '../data/index.js';
import { inspectModel } from '../models/inspect.js';
import { loadModel } from '../models/load.js';
import { ModelTokenizer } from '../tokenizer/tokenizer.js';
import type { LengthCheck } from '../../shared/engine-results.js';

export interface LengthCheckOptions {
  modelPath: string;
  /** A named chat template; absent or 'model' = the model's own. */
  template?: string;
  maxLength: number;
}

export type { LengthCheck as LengthCheckResult } from '../../shared/engine-results.js';

/** The tokenizer tuning will use: the model's, with the chosen template ('model' or absent = its own). */
async function tokenizerFor(modelPath: string, template?: string): Promise<ModelTokenizer> {
  const t = template && template !== 'model' ? template : undefined;
  if ((await stat(modelPath)).isDirectory()) return ModelTokenizer.fromFolder(modelPath, { template: t });
  return (await loadModel(modelPath, { template: t })).tokenizer;
}

/** The first length divisible by 64 that holds `tokens`. */
const roundUp64 = (tokens: number) => Math.ceil(tokens / 64) * 64;

/** Counts the examples of a normalised file by length, with the model's tokenizer and template. */
export async function checkLengths(file: string, { modelPath, template, maxLength }: LengthCheckOptions): Promise<LengthCheck> {
  const [tokenizer, model] = await Promise.all([tokenizerFor(modelPath, template), inspectModel(modelPath)]);
  const contextLength = model.contextLength;
  const check = (max?: number) => checkDataFile(file, { tokenizer, maxLength: max });
  // One pass without a limit gives the longest example; passes with a limit count what tuning would leave out.
  const all = await check();
  const longest = all.stats.tokenLengths.max;
  const tooLongAt = async (max: number) => {
    if (longest <= max) return { count: 0, samples: [] as { line: number; message: string }[] };
    const r = await check(max);
    const long = r.problems.filter((p) => p.code === 'data.too-long');
    return { count: r.counts.rejectedBy?.['data.too-long'] ?? long.length, samples: long.slice(0, 5).map((p) => ({ line: p.line, message: p.message })) };
  };
  const at = await tooLongAt(maxLength);
  const suggested = Math.min(contextLength, roundUp64(longest));
  const raise = at.count > 0 && suggested > maxLength ? suggested : undefined;
  return {
    examples: all.counts.rowsRead,
    maxLength,
    contextLength,
    tooLong: at.count,
    longest,
    suggestedMaxLength: raise,
    tooLongAtSuggested: raise !== undefined ? (await tooLongAt(raise)).count : undefined,
    otherRejected: all.counts.rejected,
    samples: at.samples,
  };
}
