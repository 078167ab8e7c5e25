/**
 * Each run keeps the examples it was tuned on (issue #19, item 13): main copies the project's
 * examples into the run folder when the run starts (the worker reads that copy, so data replaced a
 * moment later cannot slip in), and the engine keeps the examples it actually used (data.jsonl,
 * without those over the max length). Chat's held-out examples, the review and a resume all come
 * from the run's own copy, not from whatever the project holds now. A run that is not training
 * can be discarded (its folder is removed).
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Example } from '../../shared/contract.js';
import { AttuneError } from '../../shared/errors.js';
import type { EngineFacade } from '../engine.js';
import type { RunRecord } from '../runs.js';
import { exists } from '../workspace.js';

/** The copy main makes at start; the engine's own (data.jsonl) is written once the worker has read it. */
export const START_COPY = 'examples-at-start.jsonl';
export const ENGINE_COPY = 'data.jsonl';

/** Copies the project's examples into the run folder; answers with the copy's path (the run's data file). */
export async function snapshotExamples(examplesFile: string, runDir: string): Promise<string> {
  await mkdir(runDir, { recursive: true });
  const copy = path.join(runDir, START_COPY);
  await copyFile(examplesFile, copy);
  return copy;
}

/** The held-out examples of a run, from its own data: what it used (data.jsonl), else what it started with. */
export async function runHeldOut(
  engine: Pick<EngineFacade, 'readExamples' | 'splitExamples'>,
  rec: Pick<RunRecord, 'spec'>,
  limit: number,
): Promise<Example[]> {
  const runDir = rec.spec.runDir;
  const used = path.join(runDir, ENGINE_COPY);
  const file = (await exists(used)) ? used : rec.spec.dataFile;
  if (!(await exists(file))) return [];
  const all = await engine.readExamples(file);
  const { validation } = engine.splitExamples(all, { valFraction: rec.spec.valFraction, seed: rec.spec.settings.seed });
  return validation.slice(0, limit).map((e) => ({ messages: e.messages }));
}

/** Removes a run's folder, and the engine's cached copy of its prepared data; refuses while it trains. */
export async function discardRun(engine: Pick<EngineFacade, 'forgetRunData'>, runDir: string, live: boolean): Promise<{ discarded: true }> {
  if (live) throw new AttuneError('run.discard-live');
  await engine.forgetRunData(runDir);
  await rm(runDir, { recursive: true, force: true });
  return { discarded: true };
}
