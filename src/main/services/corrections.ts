/**
 * Learning from corrections (issue #16): rate an answer (thumbs up/down), correct a bad one, and
 * "teach it again".
 *
 * A correction is saved to the project twice, with where it came from (run, adapter, date):
 * - `data/corrections/examples.jsonl`: an instruction example (prompt -> corrected answer), in the
 *   project's normalised format, so it trains like any other example;
 * - `data/corrections/pairs.jsonl`: a preference pair in TRL's form (prompt, chosen = corrected,
 *   rejected = the model's answer), which `attune data import` and `--method dpo|orpo` read.
 * Ratings (up and down) are kept in `data/corrections/ratings.jsonl`. Correcting the same prompt
 * again replaces the earlier correction. Every file is rewritten whole, atomically.
 *
 * "Teach it again" continues the current adapter on the corrections, with some of the original
 * examples replayed so that it does not forget them, then answers the held-out prompts and every
 * corrected prompt with the adapter before and after, side by side, and counts how many
 * corrections the model now gets right (its answer is the correction, or within ROUGE-L 0.9).
 *
 * Plain functions over folders (no Electron), tested under Node.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { answersCorrection, AttuneError, ChatSession, readNormalizedJsonl, runTuning, type ChatMessage, type TuneConfig, type TuneProgress, type TuneResult } from '../../engine/index.js';
import { writeFileAtomic } from '../workspace.js';

export interface Provenance {
  /** The run whose adapter answered (absent for the original model). */
  runId?: string;
  adapter?: string;
  /** Which model answered: the tuned one or the original. */
  which: 'tuned' | 'base';
  /** ISO date of the rating or correction. */
  date: string;
}

export interface RatingInput {
  /** The conversation up to and including the question. */
  prompt: ChatMessage[];
  answer: string;
  rating: 'up' | 'down';
  provenance: Provenance;
}

export interface Correction {
  id: string;
  prompt: ChatMessage[];
  /** The model's answer (rejected). */
  answer: string;
  /** The person's answer (chosen). */
  corrected: string;
  provenance: Provenance;
}

export const correctionsDir = (projectDir: string) => path.join(projectDir, 'data', 'corrections');
const files = (projectDir: string) => {
  const dir = correctionsDir(projectDir);
  return { dir, ratings: path.join(dir, 'ratings.jsonl'), examples: path.join(dir, 'examples.jsonl'), pairs: path.join(dir, 'pairs.jsonl'), teach: path.join(dir, 'teach-again.jsonl') };
};

const promptId = (prompt: ChatMessage[]) => createHash('sha256').update(JSON.stringify(prompt.map((m) => [m.role, m.content.trim()]))).digest('hex').slice(0, 16);

async function readJsonl<T>(file: string): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}

async function writeJsonl(file: string, rows: unknown[]): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
}

function checkPrompt(prompt: ChatMessage[]): void {
  if (!prompt.length || prompt[prompt.length - 1]!.role !== 'user' || !prompt[prompt.length - 1]!.content.trim()) {
    throw new AttuneError('corrections.no-question');
  }
}

/** Thumbs up or down for one answer. */
export async function rateAnswer(projectDir: string, r: RatingInput): Promise<{ id: string }> {
  checkPrompt(r.prompt);
  const f = files(projectDir);
  const rows = await readJsonl<RatingInput & { id: string }>(f.ratings);
  const id = promptId(r.prompt);
  rows.push({ id, ...r });
  await writeJsonl(f.ratings, rows);
  return { id };
}

/** Saves a corrected answer as an instruction example and as a preference pair. */
export async function saveCorrection(projectDir: string, c: Omit<Correction, 'id'>): Promise<Correction> {
  checkPrompt(c.prompt);
  const corrected = c.corrected.trim();
  if (!corrected) throw new AttuneError('corrections.empty');
  if (corrected === c.answer.trim()) throw new AttuneError('corrections.unchanged');
  const id = promptId(c.prompt);
  const saved: Correction = { id, prompt: c.prompt, answer: c.answer.trim(), corrected, provenance: c.provenance };
  const list = (await listCorrections(projectDir)).filter((x) => x.id !== id);
  list.push(saved);
  const f = files(projectDir);
  await writeJsonl(
    f.examples,
    list.map((x, i) => ({ id: x.id, messages: [...x.prompt, { role: 'assistant', content: x.corrected }], source: { file: 'corrections', line: i + 1 }, provenance: x.provenance })),
  );
  await writeJsonl(
    f.pairs,
    list.map((x) => ({ id: x.id, prompt: x.prompt, chosen: [{ role: 'assistant', content: x.corrected }], rejected: [{ role: 'assistant', content: x.answer }], provenance: x.provenance })),
  );
  return saved;
}

/** How many answers were given a thumbs up and a thumbs down (the latest rating per question and model counts). */
export async function ratingCounts(projectDir: string): Promise<{ up: number; down: number }> {
  const latest = new Map<string, 'up' | 'down'>();
  for (const r of await readJsonl<RatingInput & { id: string }>(files(projectDir).ratings)) latest.set(`${r.id}/${r.provenance.which}/${r.provenance.runId ?? ''}`, r.rating);
  const all = [...latest.values()];
  return { up: all.filter((r) => r === 'up').length, down: all.filter((r) => r === 'down').length };
}

/** Every saved correction (latest per prompt), from the pairs file. */
export async function listCorrections(projectDir: string): Promise<Correction[]> {
  const rows = await readJsonl<{ id: string; prompt: ChatMessage[]; chosen: ChatMessage[]; rejected: ChatMessage[]; provenance: Provenance }>(files(projectDir).pairs);
  return rows.map((r) => ({ id: r.id, prompt: r.prompt, corrected: r.chosen[0]!.content, answer: r.rejected[0]!.content, provenance: r.provenance }));
}

/**
 * The training file of "teach it again": every correction, plus up to `replay` original examples
 * per correction (seeded choice, never the held-out ones the caller leaves out), as instruction
 * examples (OpenAI messages form).
 */
export async function teachAgainData(projectDir: string, originals: { messages: ChatMessage[] }[], opts: { replay?: number; seed?: number } = {}): Promise<{ file: string; corrections: number; replayed: number }> {
  const corrections = await listCorrections(projectDir);
  if (!corrections.length) throw new AttuneError('corrections.none');
  const want = Math.min(originals.length, Math.round((opts.replay ?? 1) * corrections.length));
  const order = originals.map((_, i) => i);
  let s = (opts.seed ?? 42) >>> 0;
  const rand = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const corrected = new Set(corrections.map((c) => c.id));
  const replayed = order.map((i) => originals[i]!).filter((e) => !corrected.has(promptId(e.messages.slice(0, -1)))).slice(0, want);
  const rows = [...corrections.map((c) => ({ messages: [...c.prompt, { role: 'assistant', content: c.corrected }] })), ...replayed.map((e) => ({ messages: e.messages }))];
  const f = files(projectDir);
  await writeJsonl(f.teach, rows);
  return { file: f.teach, corrections: corrections.length, replayed: replayed.length };
}

export interface SideBySide {
  prompt: ChatMessage[];
  /** The correction or the held-out example's answer. */
  expected: string;
  /** For a correction: the model's answer the person rejected. */
  rejected?: string;
  before: string;
  after: string;
  kind: 'correction' | 'held-out';
  /** The answer gets the expected one right (answersCorrection: word for word, or ROUGE-L F1 >= 0.9). */
  rightBefore: boolean;
  rightAfter: boolean;
}

export interface TeachAgainReport {
  run: TuneResult;
  rows: SideBySide[];
  corrections: { total: number; rightBefore: number; rightAfter: number };
  heldOut: { total: number; rightBefore: number; rightAfter: number };
}

/** Answers the prompts with two adapters (greedy), side by side. */
export async function beforeAfter(
  modelPath: string,
  beforeAdapter: string | undefined,
  afterAdapter: string,
  items: { prompt: ChatMessage[]; expected: string; kind: SideBySide['kind'] }[],
  o: { maxTokens?: number; threads?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<SideBySide[]> {
  let done = 0;
  const answer = async (adapterDir: string | undefined) => {
    const s = await ChatSession.open({ modelPath, adapterDir, device: 'cpu', threads: o.threads });
    try {
      const out: string[] = [];
      for (const it of items) {
        out.push((await s.generate(it.prompt, { maxTokens: o.maxTokens ?? 128, temperature: 0 })).text.trim());
        o.onProgress?.(++done, items.length * 2);
      }
      return out;
    } finally {
      await s.close();
    }
  };
  const before = await answer(beforeAdapter);
  const after = await answer(afterAdapter);
  return items.map((it, i) => ({
    ...it,
    before: before[i]!,
    after: after[i]!,
    rightBefore: answersCorrection(before[i]!, it.expected),
    rightAfter: answersCorrection(after[i]!, it.expected),
  }));
}

export interface TeachAgainOptions {
  projectDir: string;
  modelPath: string;
  /** The adapter to continue (the current run's). */
  adapterDir: string;
  /** The project's original examples (normalised JSONL) to replay from and to take held-out prompts from. */
  examplesFile: string;
  out: string;
  /** Held-out examples to compare on (the caller's split; default the last 10% of the file). */
  heldOut?: { messages: ChatMessage[] }[];
  replay?: number;
  settings?: Partial<TuneConfig>;
  onEvent?: (e: TuneProgress) => void;
  signal?: AbortSignal;
}

const TEACH_BATCH = 4;
const TEACH_MIN_STEPS = 40;

/**
 * The settings "teach it again" continues an adapter with (the app's run and `teachAgain` below).
 *
 * Instruction tuning (sft) on the corrections plus replayed originals, not DPO: the replayed
 * originals are plain examples with no rejected answer, so only sft can learn both at once, and
 * this is the recipe proven on stories260K (tests/app/corrections.test.ts: 0 of 7 corrections
 * right before, at least 6 of 7 after). DPO with rpoAlpha 1 and learning rate 1e-3 is proven too,
 * but on a set of preference pairs only, without replay (tests/engine/train/preference-real.test.ts);
 * the corrections' pairs file is kept for it (`attune tune --method dpo --data pairs.jsonl`).
 * A few passes over a small set at a higher learning rate; no validation split (the before/after
 * comparison is the check); the same rank and alpha as the adapter it continues. At least as many
 * steps as the measured recipe took (10 passes over 14 examples in batches of 4: 40 steps), so
 * that one or two corrections get more passes rather than fewer steps.
 */
export function teachAgainSettings(adapter: { r: number; lora_alpha: number }, examples = TEACH_MIN_STEPS * TEACH_BATCH) {
  const stepsPerPass = Math.max(1, Math.ceil(examples / TEACH_BATCH));
  return {
    method: 'sft' as const,
    rank: adapter.r,
    alpha: adapter.lora_alpha,
    epochs: Math.max(10, Math.ceil(TEACH_MIN_STEPS / stepsPerPass)),
    batchSize: TEACH_BATCH,
    learningRate: 2e-3,
    warmupSteps: 2,
    valFraction: 0,
    earlyStopping: false,
  };
}

/** The rank and alpha of an adapter folder (its adapter_config.json). */
export async function adapterShape(adapterDir: string): Promise<{ r: number; lora_alpha: number }> {
  return JSON.parse(await readFile(path.join(adapterDir, 'adapter_config.json'), 'utf8')) as { r: number; lora_alpha: number };
}

/** What to compare before and after: every correction, then the held-out examples. */
export function beforeAfterItems(corrections: Correction[], heldOut: { messages: ChatMessage[] }[]) {
  return [
    ...corrections.map((c) => ({ prompt: c.prompt, expected: c.corrected, rejected: c.answer, kind: 'correction' as const })),
    ...heldOut.map((e) => ({ prompt: e.messages.slice(0, -1), expected: e.messages[e.messages.length - 1]!.content, kind: 'held-out' as const })),
  ];
}

/** How many rows of a kind there are and how many were right before and after. */
export function tally(rows: SideBySide[], kind: SideBySide['kind']) {
  const r = rows.filter((x) => x.kind === kind);
  return { total: r.length, rightBefore: r.filter((x) => x.rightBefore).length, rightAfter: r.filter((x) => x.rightAfter).length };
}

export async function teachAgain(o: TeachAgainOptions): Promise<TeachAgainReport> {
  const originals = (await readNormalizedJsonl(o.examplesFile)).map((e) => ({ messages: e.messages }));
  const heldOut = o.heldOut ?? originals.slice(Math.floor(originals.length * 0.9));
  const heldSet = new Set(heldOut.map((e) => JSON.stringify(e.messages)));
  const data = await teachAgainData(o.projectDir, originals.filter((e) => !heldSet.has(JSON.stringify(e.messages))), { replay: o.replay });
  const run = await runTuning(
    { model: o.modelPath, data: data.file, out: o.out, initAdapter: o.adapterDir, ...teachAgainSettings(await adapterShape(o.adapterDir), data.corrections + data.replayed), ...o.settings },
    { onEvent: o.onEvent, signal: o.signal },
  );
  const items = beforeAfterItems(await listCorrections(o.projectDir), heldOut);
  const rows = await beforeAfter(o.modelPath, o.adapterDir, run.adapterDir, items);
  return { run, rows, corrections: tally(rows, 'correction'), heldOut: tally(rows, 'held-out') };
}
