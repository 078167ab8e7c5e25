/**
 * What a preference run (DPO, ORPO) adds to the training loop: pairs as units of batching (rows
 * interleaved chosen, rejected), the per-step inputs of the loss head, and DPO's reference
 * log-probabilities, computed once at the starting point (base + starting adapter) with the
 * validation graph and saved with the run (`reference-logps.json`), so a resumed run uses the
 * very same constants.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { AttuneError } from '../../shared/errors.js';
import { floatTensor, int64Tensor, type Tensor } from '../runtime/session.js';
import type { Scorer } from './scorer.js';
import { collate, type MicroBatch, type TokenizedExample } from './batches.js';
import { exists, writeJsonAtomic } from './run-dir.js';
import type { PreferenceMethod } from './losses/preference.js';

export { rewardMetrics } from './losses/preference.js';

export const referencePath = (runDir: string) => path.join(runDir, 'reference-logps.json');

/** Rows of the pairs `pairIdx` (chosen, rejected, chosen, rejected, ...). */
export function pairRows(rows: readonly TokenizedExample[], pairIdx: readonly number[]): TokenizedExample[] {
  return pairIdx.flatMap((i) => [rows[2 * i], rows[2 * i + 1]]);
}

/** A pair's length for bucketing: its longer row. */
export function pairLengths(rows: readonly TokenizedExample[], maxLength: number): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < rows.length; i += 2) out.push(Math.min(Math.max(rows[i].ids.length, rows[i + 1].ids.length), maxLength));
  return out;
}

/** Response tokens of the chosen rows (even rows), as collate counts them. */
export function chosenTargetTokens(mb: MicroBatch): number {
  let n = 0;
  for (let b = 0; b < mb.batch; b += 2) for (let t = 0; t < mb.seq; t++) n += mb.lossWeight[b * mb.seq + t];
  return n;
}

export interface PreferenceFeedsInput {
  method: PreferenceMethod;
  pairsInStep: number;
  chosenTokensInStep: number;
  /** DPO: the reference log-probabilities of this micro-batch's rows. */
  ref?: Float32Array;
}

/** The head's inputs for one micro-batch (they override the SFT `loss_scale`). */
export function preferenceFeeds(p: PreferenceFeedsInput): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {
    pair_scale: floatTensor(Float32Array.of(p.pairsInStep > 0 ? 1 / p.pairsInStep : 0), []),
    loss_scale: floatTensor(Float32Array.of(p.chosenTokensInStep > 0 ? 1 / p.chosenTokensInStep : 0), []),
  };
  if (p.method === 'dpo') feeds.ref_logps = floatTensor(p.ref!, [p.ref!.length]);
  return feeds;
}

/** Reference log-probabilities of rows [pair order], looked up for a micro-batch of pairs. */
export function refRows(ref: Float32Array, pairIdx: readonly number[]): Float32Array {
  return Float32Array.from(pairIdx.flatMap((i) => [ref[2 * i], ref[2 * i + 1]]));
}

/** Summed response log-probabilities of every row, at the given parameters (one forward pass). */
export async function sequenceLogps(
  session: Scorer, rows: readonly TokenizedExample[], params: Float32Array, o: { batchPairs: number; maxLength: number; padId: number },
): Promise<Float32Array> {
  const out = new Float32Array(rows.length);
  const pairs = rows.length / 2;
  for (let i = 0; i < pairs; i += o.batchPairs) {
    const idx = Array.from({ length: Math.min(o.batchPairs, pairs - i) }, (_, k) => i + k);
    const mb = collate(pairRows(rows, idx), o.maxLength, o.padId);
    const feeds: Record<string, Tensor> = {
      input_ids: int64Tensor(mb.inputIds, [mb.batch, mb.seq]),
      targets: int64Tensor(mb.targets, [mb.batch, mb.seq]),
      loss_weight: floatTensor(mb.lossWeight, [mb.batch, mb.seq]),
      params: floatTensor(params, [params.length]),
      ...preferenceFeeds({ method: 'dpo', pairsInStep: idx.length, chosenTokensInStep: 1, ref: new Float32Array(mb.batch) }),
    };
    const res = await session.run(Object.fromEntries(session.inputNames.map((n) => [n, feeds[n]])));
    out.set(res.seq_logps.data as Float32Array, 2 * i);
  }
  return out;
}

export interface ReferenceLogps {
  train: Float32Array;
  validation: Float32Array;
}

/** The run's reference log-probabilities: read back when saved, else computed now and saved. */
export async function referenceLogps(runDir: string, compute: () => Promise<ReferenceLogps>, sizes: { train: number; validation: number }): Promise<ReferenceLogps> {
  const file = referencePath(runDir);
  if (await exists(file)) {
    let saved: { train: number[]; validation: number[] };
    try {
      saved = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      throw new AttuneError('tune.resume-invalid', { file, detail: (e as Error).message }, { file });
    }
    if (saved.train?.length !== sizes.train || saved.validation?.length !== sizes.validation) {
      throw new AttuneError('tune.reference-mismatch', { file }, { file });
    }
    return { train: Float32Array.from(saved.train), validation: Float32Array.from(saved.validation) };
  }
  const ref = await compute();
  await writeJsonAtomic(file, { note: 'DPO reference: summed log-probabilities of each row (chosen, rejected, ...) at the starting point', train: Array.from(ref.train), validation: Array.from(ref.validation) });
  return ref;
}
