/**
 * The app's side of learning from corrections (issue #16): what the Chat step's thumbs and the
 * "Teach it again" button call. The corrections themselves live in ./corrections.ts (plain files
 * in the project); here they meet the app's runs: provenance from the run that answered, the job
 * of a teach-again run (through the same run manager as any tune: progress, cancel, resume), and
 * its before/after comparison, kept with the run so it is computed once.
 *
 * Plain functions (no Electron), tested under Node (tests/app/teach-again.test.ts).
 */
import path from 'node:path';
import type { AnswerProvenance, BeforeAfterRow, CorrectionsInfo, Example, TeachAgainReport } from '../../shared/contract.js';
import { AttuneError } from '../../shared/errors.js';
import type { TuneJobSpec } from '../engine.js';
import type { RunRecord } from '../runs.js';
import { readJson, writeFileAtomic } from '../workspace.js';
import { adapterShape, beforeAfter, beforeAfterItems, listCorrections, ratingCounts, tally, teachAgainData, teachAgainSettings } from './corrections.js';

type DoneRun = RunRecord & { adapterDir: string };

/** The project's corrections and how many answers were rated up and down. */
export async function correctionsInfo(projectDir: string): Promise<CorrectionsInfo> {
  return { corrections: await listCorrections(projectDir), ratings: await ratingCounts(projectDir) };
}

/** Where an answer came from: the run (and its adapter) for the tuned model, the date. */
export function provenanceOf(run: DoneRun | undefined, which: 'tuned' | 'base', now = new Date()): AnswerProvenance {
  if (which === 'tuned' && !run) throw new AttuneError('chat.no-adapter');
  return { ...(run ? { runId: run.runId } : {}), ...(which === 'tuned' && run ? { adapter: run.adapterDir } : {}), which, date: now.toISOString() };
}

/**
 * The job of a teach-again run: `from`'s adapter continued (same model, template and token
 * choices) on the corrections with original examples (`originals`: the training split only, never
 * the held-out ones) replayed, with the settings of `teachAgainSettings` (why sft: see there).
 */
export async function teachAgainSpec(o: { projectDir: string; from: DoneRun; originals: Example[]; runDir: string }): Promise<TuneJobSpec> {
  const data = await teachAgainData(o.projectDir, o.originals);
  const t = teachAgainSettings(await adapterShape(o.from.adapterDir), data.corrections + data.replayed);
  return {
    modelPath: o.from.modelPath,
    dataFile: data.file,
    valFraction: t.valFraction,
    runDir: o.runDir,
    settings: { ...o.from.spec.settings, method: t.method, rank: t.rank, epochs: t.epochs, batchSize: t.batchSize, learningRate: t.learningRate, earlyStopping: t.earlyStopping, beta: undefined, rpoAlpha: undefined },
    template: o.from.spec.template,
    continueFrom: { initAdapter: o.from.adapterDir, alpha: t.alpha, warmupSteps: t.warmupSteps },
  };
}

const lastUser = (prompt: Example['messages']) => [...prompt].reverse().find((m) => m.role === 'user')?.content ?? '';
const REPORT = 'before-after.json';

/**
 * Before/after of a finished teach-again run: every corrected question and the held-out examples
 * answered (greedy) by the adapter it continued and by its own, side by side, with how many are
 * right (answersCorrection). Saved with the run; asked again, the saved one is returned.
 */
export async function compareTeachAgain(o: {
  projectDir: string;
  run: DoneRun;
  from: DoneRun;
  heldOut: Example[];
  maxTokens?: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<TeachAgainReport> {
  const file = path.join(o.run.spec.runDir, REPORT);
  const saved = await readJson<TeachAgainReport>(file);
  if (saved) return saved;
  const items = beforeAfterItems(await listCorrections(o.projectDir), o.heldOut);
  if (!items.length) throw new AttuneError('corrections.none');
  const sides = await beforeAfter(o.run.modelPath, o.from.adapterDir, o.run.adapterDir, items, { maxTokens: o.maxTokens ?? 96, onProgress: o.onProgress });
  const rows: BeforeAfterRow[] = sides.map((x) => ({
    kind: x.kind,
    prompt: lastUser(x.prompt),
    expected: x.expected,
    ...(x.rejected !== undefined ? { rejected: x.rejected } : {}),
    before: x.before,
    after: x.after,
    rightBefore: x.rightBefore,
    rightAfter: x.rightAfter,
  }));
  const report: TeachAgainReport = { runId: o.run.runId, fromRunId: o.from.runId, rows, corrections: tally(sides, 'correction'), heldOut: tally(sides, 'held-out') };
  await writeFileAtomic(file, JSON.stringify(report, null, 2));
  return report;
}
