/**
 * How many optimizer steps a run takes, and which limit ends it. As in Hugging Face's Trainer
 * (`max_steps` > 0 overrides `num_train_epochs`): a given maximum number of steps is the budget,
 * going round the data as many times as it takes; without one, the budget is the number of passes
 * (epochs) times the steps of one pass. Early stopping and cancelling can end a run sooner.
 */
import type { StopReason, TrainingHyperparameters } from './trainer.js';

export interface StepBudget {
  totalSteps: number;
  /** What ends the run if nothing stops it sooner: 'max-steps', or 'finished' (all passes done). */
  endsBy: Extract<StopReason, 'max-steps' | 'finished'>;
}

export function stepBudget(hp: Pick<TrainingHyperparameters, 'epochs' | 'maxSteps'>, stepsPerEpoch: number): StepBudget {
  if (hp.maxSteps !== undefined && hp.maxSteps > 0) return { totalSteps: hp.maxSteps, endsBy: 'max-steps' };
  return { totalSteps: stepsPerEpoch * hp.epochs, endsBy: 'finished' };
}

/** Which limit ended a run, in words (for the CLI, `--json` and the run's summary.json). */
export function stopExplanation(stoppedBecause: StopReason, steps: number, hp: Pick<TrainingHyperparameters, 'epochs' | 'maxSteps' | 'patience'>): string {
  const s = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : w.endsWith('s') ? 'es' : 's'}`;
  switch (stoppedBecause) {
    case 'max-steps':
      return `it reached the maximum number of steps (${hp.maxSteps}), which overrides the number of passes`;
    case 'finished':
      return `it finished ${s(hp.epochs, 'pass')} over the training examples (${s(steps, 'step')})`;
    case 'early-stopping':
      return `early stopping: the validation loss did not improve for ${s(hp.patience, 'validation')} in a row`;
    case 'cancelled':
      return `it was cancelled at step ${steps}; resume it to go on`;
  }
}
