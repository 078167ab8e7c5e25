/**
 * A new run's examples, ready to train: imported from the person's file into the run folder
 * (data.jsonl, the run's own copy), split, and tokenized with the model's chat template.
 *
 * Importing tokenizes every row (to check the template and the length) and training tokenizes
 * the kept ones again; on the 323-example sample that is 0.45 s of a 2.5 s start. The result is
 * therefore kept in the cache, keyed by the file's path and bytes, the model folder (its files'
 * sizes and times, tokenizer included), the template and every setting the result depends on:
 * a second run on the same data (other settings, another try) reads it back instead. Any change
 * to the file gives another key; a cache that cannot be read or written only costs the time.
 * The entry is a copy of the person's examples: each run folder names the entry it used
 * (PREPARED_REF), and discarding the run removes it too (`forgetPreparedData`).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { importDataFile, readNormalizedJsonl, splitExamples, tokenizeConversation, type DataReport, type Example, type TokenizedConversation } from '../data/index.js';
import type { LoadedModel } from '../models/load.js';
import { cacheRoot } from '../runtime/cache.js';
import { writeDirAtomic, writeTextAtomic } from '../util/atomic.js';
import { tokenizePairs } from './preference-data.js';
import type { TrainingHyperparameters } from './hyperparameters.js';

/** Bump when importing or tokenizing gives other results for the same inputs. */
const PREPARED_DATA_VERSION = 1;
/** In a run folder: the key of the cache entry its data was prepared in or read from. */
const PREPARED_REF = 'data.cache-key';
const entryDir = (key: string) => path.join(cacheRoot(), 'data', key);

export interface ImportSettings {
  format?: string;
  map?: Record<string, string>;
  valFraction?: number;
  dropNearDuplicates: boolean;
  /** The template chosen instead of the model's own, if any. */
  template?: string;
}

export interface PreparedData {
  report: DataReport;
  train: TokenizedConversation[];
  validation: TokenizedConversation[];
}

/** Splits the run's examples and tokenizes them as the method trains them (pairs: chosen, rejected, ...). */
export function tokenizeRunData(model: LoadedModel, examples: Example[], hp: TrainingHyperparameters, valFraction: number | undefined, file: string): Omit<PreparedData, 'report'> {
  const { train, validation } = splitExamples(examples, { valFraction, seed: hp.seed });
  const tokenize = (set: Example[]) => (hp.method === 'sft' ? set.map((e) => tokenizeConversation(model.tokenizer, e.messages)) : tokenizePairs(model.tokenizer, set, file));
  return { train: tokenize(train), validation: tokenize(validation) };
}

/**
 * Imports `file` into `dataCopy` and tokenizes the split, or takes both from the cache. When
 * nothing could be imported, the report says why and there are no rows.
 */
export async function prepareRunData(file: string, dataCopy: string, model: LoadedModel, hp: TrainingHyperparameters, settings: ImportSettings): Promise<PreparedData> {
  // A file that cannot be read has no key: importing it says what is wrong with it.
  const key = await preparedKey(file, model, hp, settings).catch(() => undefined);
  const ref = path.join(path.dirname(dataCopy), PREPARED_REF);
  const cached = key && (await readPrepared(entryDir(key)));
  if (key && cached) {
    await writeTextAtomic(dataCopy, cached.jsonl);
    await writeTextAtomic(ref, key);
    return { ...cached.prepared, report: { ...cached.prepared.report, out: dataCopy } };
  }
  const report = await importDataFile(file, {
    out: dataCopy,
    // The run folder is new (no config.json): a data.jsonl there is from an attempt that failed.
    force: true,
    format: settings.format as never,
    map: settings.map as never,
    tokenizer: model.tokenizer,
    maxLength: hp.maxLength,
    valFraction: settings.valFraction,
    seed: hp.seed,
    epochs: hp.epochs,
    dropNearDuplicates: settings.dropNearDuplicates,
  });
  if (report.counts.imported === 0) return { report, train: [], validation: [] };
  const prepared = { report, ...tokenizeRunData(model, await readNormalizedJsonl(dataCopy), hp, settings.valFraction, file) };
  if (key) await writePrepared(entryDir(key), dataCopy, prepared).then(() => writeTextAtomic(ref, key), () => undefined);
  return prepared;
}

/** Removes the cache entry of the data `runDir` was prepared from, if it has one. */
export async function forgetPreparedData(runDir: string): Promise<void> {
  const key = (await readFile(path.join(runDir, PREPARED_REF), 'utf8').catch(() => '')).trim();
  // Only a key of ours: the file's content never names a folder to delete.
  if (/^[0-9a-f]{24}$/.test(key)) await rm(entryDir(key), { recursive: true, force: true });
}

async function preparedKey(file: string, model: LoadedModel, hp: TrainingHyperparameters, settings: ImportSettings): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  const bytes = hash.digest('hex');
  const parts = {
    v: PREPARED_DATA_VERSION, file: path.resolve(file), bytes, model: model.fingerprint, ...settings,
    maxLength: hp.maxLength, seed: hp.seed, epochs: hp.epochs, method: hp.method,
  };
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 24);
}

/** Rows as stored: the loss mask as the runs of 1s, [start, end) pairs. */
interface StoredRow {
  ids: number[];
  learned: number[];
}
const storeRow = (r: TokenizedConversation): StoredRow => {
  const learned: number[] = [];
  r.lossMask.forEach((m, i) => {
    if (m && !r.lossMask[i - 1]) learned.push(i);
    if (m && !r.lossMask[i + 1]) learned.push(i + 1);
  });
  return { ids: r.ids, learned };
};
const readRow = (s: StoredRow): TokenizedConversation => {
  const lossMask = new Uint8Array(s.ids.length);
  for (let i = 0; i < s.learned.length; i += 2) lossMask.fill(1, s.learned[i], s.learned[i + 1]);
  return { ids: s.ids, lossMask };
};

async function writePrepared(dir: string, dataCopy: string, p: PreparedData): Promise<void> {
  const jsonl = await readFile(dataCopy, 'utf8');
  await writeDirAtomic(dir, async (tmp) => {
    await writeFile(path.join(tmp, 'data.jsonl'), jsonl);
    await writeFile(path.join(tmp, 'prepared.json'), JSON.stringify({ report: p.report, train: p.train.map(storeRow), validation: p.validation.map(storeRow) }));
  });
}

async function readPrepared(dir: string): Promise<{ jsonl: string; prepared: PreparedData } | null> {
  try {
    const stored = JSON.parse(await readFile(path.join(dir, 'prepared.json'), 'utf8')) as { report: DataReport; train: StoredRow[]; validation: StoredRow[] };
    const jsonl = await readFile(path.join(dir, 'data.jsonl'), 'utf8');
    return { jsonl, prepared: { report: stored.report, train: stored.train.map(readRow), validation: stored.validation.map(readRow) } };
  } catch {
    return null;
  }
}
