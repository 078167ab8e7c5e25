/**
 * A review of a tuned model: loss and perplexity of base and tuned, and for N examples the
 * prompt, the expected answer, the base answer and the tuned answer (greedy), each scored against
 * the expected answer with ROUGE-L F1. The examples: by default the run's own held-out split
 * (loss on all of it, answers for the first N, default 20); given a file, that file's examples
 * (all of them, or the first N), none of which are held back.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { l as rougeL } from 'js-rouge';
import { AttuneError } from '../../shared/errors.js';
import { importDataFile, readNormalizedJsonl, splitExamples, tokenizeConversation, type Example } from '../data/index.js';
import { ChatSession } from '../generate/chat-session.js';
import { adapterFeeds, forwardPass } from '../generate/generator.js';
import type { ModelConfig } from '../models/config.js';
import { inferenceSessionFor } from '../generate/inference-session.js';
import { createSession, type Session, type Tensor } from '../runtime/session.js';
import { exists, runPaths } from '../train/run-dir.js';
import type { ReviewReport, ReviewSample } from '../../shared/engine-results.js';

export interface ReviewOptions {
  modelPath: string;
  adapterDir: string;
  /**
   * A file of examples to evaluate, all of them (or the first `n`). Without one, the held-out
   * split of the run's own data (when the adapter sits in a run folder).
   */
  data?: string;
  /** With `data`: how many of its examples (default all). Otherwise: how many held-out examples to answer (default 20). */
  n?: number;
  valFraction?: number;
  seed?: number;
  maxTokens?: number;
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

export type { ReviewReport, ReviewSample } from '../../shared/engine-results.js';

export async function reviewAdapter(opts: ReviewOptions): Promise<ReviewReport> {
  const { heldOut: all, from } = await heldOutExamples(opts);
  if (all.length === 0) throw new AttuneError('eval.no-validation');
  // A file's examples are all evaluated (or the first n); a split's, all scored and n answered.
  const heldOut = from === 'file' && opts.n !== undefined ? all.slice(0, opts.n) : all;
  const chat = await ChatSession.open({ modelPath: opts.modelPath, adapterDir: opts.adapterDir, device: 'cpu', threads: opts.threads });
  try {
    const model = chat.model;
    const adapter = chat.adapter!;
    // Scoring needs every position's logits: a second graph of the same model, base and tuned alike.
    const scorerFile = await inferenceSessionFor(model, { lastTokenOnly: false, lora: { rank: adapter.rank, targets: adapter.targets }, tokenRows: adapter.tokenRows?.ids });
    const scorer = await createSession(scorerFile, { threads: opts.threads });
    const n = from === 'file' ? heldOut.length : Math.min(opts.n ?? 20, heldOut.length);
    const total = heldOut.length + n;
    let done = 0;
    const loss = { base: { sum: 0, count: 0 }, tuned: { sum: 0, count: 0 } };
    for (const ex of heldOut) {
      const { ids, lossMask } = tokenizeConversation(model.tokenizer, ex.messages);
      for (const which of ['base', 'tuned'] as const) {
        const r = await maskedLoss(scorer, model.config, ids, lossMask, adapterFeeds(scorer.inputNames, model.config, adapter, which === 'base' ? 0 : 1));
        loss[which].sum += r.sum;
        loss[which].count += r.count;
      }
      opts.onProgress?.(++done, total);
    }
    await scorer.release();
    const samples: ReviewSample[] = [];
    for (const ex of heldOut.slice(0, n)) {
      const lastAssistant = ex.messages.map((m) => m.role).lastIndexOf('assistant');
      const prompt = ex.messages.slice(0, lastAssistant);
      const expected = ex.messages[lastAssistant].content;
      const base = (await chat.generate(prompt, { maxTokens: opts.maxTokens ?? 256, loraScale: 0 })).text;
      const tuned = (await chat.generate(prompt, { maxTokens: opts.maxTokens ?? 256, loraScale: 1 })).text;
      samples.push({ prompt, expected, base, tuned, baseScore: similarity(base, expected), tunedScore: similarity(tuned, expected) });
      opts.onProgress?.(++done, total);
    }
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    const summary = (s: { sum: number; count: number }) => ({ loss: s.sum / s.count, perplexity: Math.exp(s.sum / s.count) });
    return {
      heldOutExamples: heldOut.length,
      examplesFrom: from,
      ...(from === 'file' ? { dataFile: opts.data } : {}),
      base: summary(loss.base),
      tuned: summary(loss.tuned),
      metric: 'ROUGE-L F1',
      samples,
      average: { base: mean(samples.map((s) => s.baseScore)), tuned: mean(samples.map((s) => s.tunedScore)) },
    };
  } finally {
    await chat.close();
  }
}

/** ROUGE-L F1 (js-rouge) on lower-cased text; empty answers score 0. */
export function similarity(candidate: string, reference: string): number {
  if (!candidate.trim() || !reference.trim()) return 0;
  return rougeL(candidate.toLowerCase(), reference.toLowerCase(), { beta: 1 });
}

/** How close an answer must come to a correction to count as right (ROUGE-L F1, as the teach-again proof scores it). */
export const CORRECTION_RIGHT = 0.9;

/**
 * Whether a model's answer gets a correction right: word for word, or within ROUGE-L F1
 * {@link CORRECTION_RIGHT} of it (small differences of punctuation or one word still count).
 * The one definition the teach-again comparison and its tests use.
 */
export function answersCorrection(answer: string, corrected: string): boolean {
  return answer.trim() === corrected.trim() || similarity(answer, corrected) >= CORRECTION_RIGHT;
}

/** The examples to evaluate: all of the file `data` when given, else the run's own held-out split. */
async function heldOutExamples(opts: ReviewOptions): Promise<{ heldOut: Example[]; from: 'held-out' | 'file' }> {
  const runDir = path.dirname(path.resolve(opts.adapterDir));
  let valFraction = opts.valFraction ?? 0.1;
  let seed = opts.seed ?? 42;
  let examples: Example[];
  if (!opts.data && (await exists(runPaths(runDir).config))) {
    const saved = JSON.parse(await readFile(runPaths(runDir).config, 'utf8')) as { valFraction: number; hp: { seed: number } };
    valFraction = opts.valFraction ?? saved.valFraction;
    seed = opts.seed ?? saved.hp.seed;
    examples = await readNormalizedJsonl(path.join(runDir, 'data.jsonl'));
  } else if (opts.data) {
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'attune-eval-'));
    try {
      const report = await importDataFile(opts.data, { out: path.join(tmp, 'data.jsonl') });
      if (report.counts.imported === 0) throw new AttuneError('eval.no-usable-examples', { file: opts.data }, { file: opts.data });
      examples = await readNormalizedJsonl(path.join(tmp, 'data.jsonl'));
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    // A file given to evaluate is evaluated whole: splitting it again would leave a tenth.
    return { heldOut: examples, from: 'file' };
  } else {
    throw new AttuneError('eval.choose-data');
  }
  return { heldOut: splitExamples(examples, { valFraction, seed }).validation, from: 'held-out' };
}

async function maskedLoss(
  session: Session,
  cfg: ModelConfig,
  ids: number[],
  mask: Uint8Array,
  extra: Record<string, Tensor>,
): Promise<{ sum: number; count: number }> {
  const vocab = cfg.vocab;
  const logits = await forwardPass(session, cfg, ids, extra);
  let sum = 0;
  let count = 0;
  for (let t = 1; t < ids.length; t++) {
    if (!mask[t]) continue;
    const row = logits.subarray((t - 1) * vocab, t * vocab);
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) max = Math.max(max, row[i]);
    let z = 0;
    for (let i = 0; i < vocab; i++) z += Math.exp(row[i] - max);
    sum += max + Math.log(z) - row[ids[t]];
    count++;
  }
  return { sum, count };
}
