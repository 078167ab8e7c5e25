/** Plain sentences for what the engine reports: untrained tokens, why a run stopped, review numbers. */
import type { LengthCheck, ReviewReport, RunSummary, UntrainedToken } from '../../shared/contract.js';
import { allOf, plural } from './format.js';

/** Tokens that end a turn or a text, by their usual spellings. */
const END_TOKEN = /^<\/s>$|^<\|?(eot_id|im_end|endoftext|end_of_turn|end|eos)\|?>$/i;

const list = (xs: string[]) => (xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs.at(-1)}`);

/** What it means for a person that the model never learned some of its template's tokens. */
export function untrainedTokensText(tokens: UntrainedToken[], stopTokens: string[] = []): string | undefined {
  const names = [...new Set(tokens.map((t) => t.token))];
  if (names.length === 0) return undefined;
  const ends = names.filter((t) => stopTokens.includes(t) || END_TOKEN.test(t));
  const others = names.filter((t) => !ends.includes(t));
  const parts: string[] = [];
  if (ends.length) parts.push(`to end an answer (the ${list(ends)} ${ends.length === 1 ? 'token' : 'tokens'})`);
  if (others.length) parts.push(`the ${list(others)} ${others.length === 1 ? 'marker' : 'markers'} its chat template uses`);
  const what = ends.length && others.length ? `${parts[0]}, nor ${parts[1]}` : parts[0];
  const teach = names.length === 1 ? 'it' : 'them';
  return `This model has never learned ${what}; Attune will teach ${teach} while tuning.`;
}

const loss = (x: number | null | undefined) => (x === null || x === undefined ? 'unknown' : x.toFixed(3));

/** Which step won and why training ended, for a finished run. */
export function outcomeText(run: RunSummary): string {
  const step = run.step ?? 0;
  const best =
    run.bestStep !== null && run.bestStep !== undefined
      ? run.bestStep === step
        ? `The last version was also the best on your held-out examples (held-out loss ${loss(run.bestValLoss)}), so that is the one Attune kept.`
        : `Attune kept the best version, from step ${run.bestStep} (held-out loss ${loss(run.bestValLoss)}), not the last one.`
      : 'There were no held-out examples to compare versions, so Attune kept the last one.';
  switch (run.stoppedBecause) {
    case 'early-stopping': {
      const patience = run.validation?.patience;
      const checks = patience ? `${plural(patience, 'check')} in a row` : 'several checks';
      return `Stopped early at step ${step}${run.totalSteps ? ` of ${run.totalSteps}` : ''}: the answers to your held-out examples had not improved for ${checks}, so more training would only have made the model memorise your examples. ${best}`;
    }
    case 'max-steps':
      return `Stopped at the step limit, after ${plural(step, 'step')}. ${best}`;
    case 'cancelled':
      return `Cancelled at step ${step}.`;
    case 'finished':
      return run.validation && run.validation.patience === null
        ? `Finished ${allOf(step, 'step')} (early stopping was off). ${best}`
        : `Finished ${allOf(step, 'step')}: the held-out loss never went ${run.validation?.patience ? `${plural(run.validation.patience, 'check')}` : 'long'} in a row without improving, so there was no reason to stop early. ${best}`;
    default:
      return run.bestStep !== null && run.bestStep !== undefined ? best : '';
  }
}

/** The length re-check, in plain words; undefined when nothing would be left out. */
export function lengthWarningText(c: LengthCheck): string | undefined {
  if (c.tooLong === 0) return undefined;
  const head = `${plural(c.tooLong, 'example')} of ${c.examples} ${c.tooLong === 1 ? 'is' : 'are'} longer than the max length of ${c.maxLength} tokens for this model, so tuning would leave ${c.tooLong === 1 ? 'it' : 'them'} out (the longest has ${c.longest} tokens).`;
  if (c.suggestedMaxLength === undefined) {
    return `${head} This model reads at most ${c.contextLength} tokens at once; shorten or split those examples in the Data step to keep them.`;
  }
  const still = c.tooLongAtSuggested
    ? ` Even then, ${plural(c.tooLongAtSuggested, 'example')} ${c.tooLongAtSuggested === 1 ? 'is' : 'are'} longer than the ${c.contextLength} tokens this model can read and will be left out.`
    : '';
  return `${head} Raising the max length to ${c.suggestedMaxLength} keeps more of them; it uses more memory and takes a little longer.${still}`;
}

/** The review's numbers, in plain words. */
export function reviewSummaryText(r: ReviewReport): { loss: string; similarity: string } {
  const better = r.tuned.loss < r.base.loss;
  return {
    loss:
      `On your ${plural(r.heldOutExamples, 'held-out example')} (ones it never learned from), the tuned model's loss is ${r.tuned.loss.toFixed(3)} against ${r.base.loss.toFixed(3)} for the original: ` +
      `${better ? 'lower, so your answers now look more natural to it' : 'not lower, so tuning has not helped on these yet'}. ` +
      `Put another way (perplexity), it hesitates between about ${fmt(r.tuned.perplexity)} words at each step instead of ${fmt(r.base.perplexity)}.`,
    similarity:
      `How close the written answers come to yours (${r.metric}: 0 = nothing in common, 1 = word for word), averaged over ${plural(r.samples.length, 'question')}: ` +
      `tuned ${r.average.tuned.toFixed(2)}, original ${r.average.base.toFixed(2)}.`,
  };
}

const fmt = (x: number) => (x >= 100 ? Math.round(x).toString() : x.toFixed(1));
