/**
 * What scores validation batches: a forward-only session, or the training session itself
 * (`scorerFor`), so that a run holds the frozen base once.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { floatTensor, type Tensor } from '../runtime/session.js';

/** Scores batches for validation: loss_sum (and seq_logps for preference heads) from the feeds it is given. */
export interface Scorer {
  readonly inputNames: readonly string[];
  run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>>;
}

/**
 * Inputs of the training step that the forward-only graph lacks; a scorer feeds them itself.
 * (Preference heads read loss_scale in their loss, so there the caller feeds it.)
 */
const STEP_ONLY_INPUTS = ['adam.m', 'adam.v', 'acc', 'apply', 'step', 'lr', 'dropout_step'];

/**
 * The training session as a validation scorer: apply = 0 (the update's outputs are dropped),
 * dropout off (a negative dropout_step), zero moments and accumulator. The forward pass and the
 * loss are the training step's own, so the loss equals the forward-only graph's; the backward
 * runs too (about three times the compute of a forward-only batch), the price of holding the
 * frozen base once.
 */
export function scorerFor(session: InferenceSession): Scorer {
  const own = new Set([...STEP_ONLY_INPUTS, ...(session.inputNames.includes('pair_scale') ? [] : ['loss_scale'])]);
  let zeros: Float32Array | undefined;
  return {
    inputNames: session.inputNames.filter((n) => !own.has(n)),
    run: async (feeds) => {
      const total = feeds.params.dims[0];
      if (zeros?.length !== total) zeros = new Float32Array(total);
      const fixed: Record<string, Tensor> = {
        'adam.m': floatTensor(zeros, [total]),
        'adam.v': floatTensor(zeros, [total]),
        acc: floatTensor(zeros, [total]),
        apply: floatTensor(Float32Array.of(0), []),
        step: floatTensor(Float32Array.of(1), []),
        lr: floatTensor(Float32Array.of(0), []),
        dropout_step: floatTensor(Float32Array.of(-1), []),
        loss_scale: floatTensor(Float32Array.of(0), []),
      };
      const all: Record<string, Tensor> = { ...fixed, ...feeds };
      return session.run(Object.fromEntries(session.inputNames.map((n) => [n, all[n]])), ['loss_sum', ...(session.outputNames.includes('seq_logps') ? ['seq_logps'] : [])]);
    },
  };
}
