/**
 * A project's examples: the person's files copied in untouched (data/original) with a working
 * copy where row fixes go (data/working), their check and import through the engine, and the
 * imported examples split as the engine splits them for tuning.
 */
import { copyFile, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { DataReport, Example, ExamplesPage } from '../../shared/contract.js';
import type { ExamplePlace } from '../../shared/engine-results.js';
import { AttuneError } from '../../shared/errors.js';
import type { DataOptions, EngineFacade, StoredExample } from '../engine.js';
import { exists, safeSegment, writeFileAtomic, type Workspace } from '../workspace.js';
import { checkEditedExample, RemovedExamples } from './example-edits.js';
import { explainReport, unreadableOriginal, withOwnName } from './file-kind.js';
import { rowFields, rowTextFromFields } from './row-fields.js';
import type { RowField } from '../../shared/contract.js';

export const SAMPLE_FILE = 'customer-service.jsonl';
/** Files read line by line: their rows can be shown and fixed in place. */
const LINE_BASED = new Set(['.jsonl', '.ndjson', '.csv', '.tsv', '.txt']);
export const DATA_EXTENSIONS = ['jsonl', 'ndjson', 'json', 'csv', 'tsv', 'txt', 'xlsx'];

export type Split = 'train' | 'val';
type Progress = DataOptions['onProgress'];
/** How a file is read: its format ('auto' detects), column mapping and max length. */
export interface ReadChoice {
  format?: string;
  map?: DataOptions['map'];
  maxLength?: number;
}

const isLineBased = (file: string) => LINE_BASED.has(path.extname(file).toLowerCase());

/** `report` with the raw text of each problem's line, so a person can fix it in place (line-based files). */
export async function withRowText(file: string, report: DataReport): Promise<DataReport> {
  if (!isLineBased(file) || !report.problems.some((p) => p.line)) return report;
  const lines = (await readFile(file, 'utf8')).split(/\r?\n/);
  return {
    ...report,
    problems: report.problems.map((p) =>
      p.line && p.rowText === undefined && lines[p.line - 1] !== undefined
        ? { ...p, rowText: lines[p.line - 1]!.slice(0, 4000), rowFields: p.rejected ? rowFields(file, lines, p.line, report.format, p.field) : undefined }
        : p,
    ),
  };
}

/** Replaces line `line` (1-based) of a line-based file with `text`, keeping its line endings. */
export async function replaceLine(file: string, line: number, text: string): Promise<void> {
  if (!isLineBased(file)) throw new AttuneError('data.fix-not-line-based');
  if (/[\r\n]/.test(text)) throw new AttuneError('data.fix-one-line');
  const content = await readFile(file, 'utf8');
  const eol = content.includes('\r\n') ? '\r\n' : '\n';
  const lines = content.split(/\r?\n/);
  if (line > lines.length) throw new AttuneError('data.fix-line-missing', { line });
  lines[line - 1] = text;
  await writeFileAtomic(file, lines.join(eol));
}

const page = (split: Split, total: number, offset: number, examples: StoredExample[], numbers?: number[]): ExamplesPage => ({
  split,
  total,
  offset,
  examples: examples.map((e, i) => ({ messages: e.messages, number: numbers ? numbers[i] : offset + i + 1, row: e.source?.line || undefined })),
});

/** Whether an example's text contains `query` (any case). */
const matches = (e: StoredExample, query: string) => e.messages.some((m) => m.content.toLowerCase().includes(query));

export class ProjectData {
  /** The last example removed in each project, for Undo (kept while the app runs). */
  private readonly removed = new RemovedExamples<StoredExample>();

  constructor(
    private readonly ws: () => Workspace,
    private readonly engine: Pick<EngineFacade, 'checkData' | 'importData' | 'readExamples' | 'splitExamples' | 'writeExamples'>,
  ) {}

  private async working(project: string, source: string): Promise<string> {
    const f = path.join(this.ws().workingDir(project), safeSegment(source));
    if (!(await exists(f))) throw new AttuneError('project.data-missing');
    return f;
  }

  /** Copies a file into data/original (kept untouched) and data/working (where fixes go), under a free name. */
  async stage(project: string, name: string, write: (dest: string) => Promise<void>): Promise<{ source: string; bytes: number }> {
    const ws = this.ws();
    await ws.readProject(project);
    const base = safeSegment(name);
    const ext = path.extname(base);
    const stem = base.slice(0, base.length - ext.length);
    let candidate = base;
    for (let i = 2; await exists(path.join(ws.originalDir(project), candidate)); i++) candidate = `${stem} (${i})${ext}`;
    const original = path.join(ws.originalDir(project), candidate);
    try {
      await write(original);
    } catch (e) {
      throw unreadableOriginal(name, e);
    }
    await copyFile(original, path.join(ws.workingDir(project), candidate));
    return { source: candidate, bytes: (await stat(original)).size };
  }

  async check(project: string, source: string, choice: ReadChoice, onProgress?: Progress): Promise<DataReport> {
    const file = await this.working(project, source);
    const report = await this.engine.checkData(file, { ...readOptions(choice), onProgress });
    return explainReport(await withRowText(file, { ...report, source }), file, source);
  }

  async fixRow(project: string, source: string, line: number, text: string, onProgress?: Progress): Promise<DataReport> {
    await replaceLine(await this.working(project, source), line, text);
    return this.check(project, source, {}, onProgress);
  }

  /** Replaces a rejected row from its edited fields and checks the file again. */
  async fixRowFields(project: string, source: string, line: number, fields: RowField[], onProgress?: Progress): Promise<DataReport> {
    const file = await this.working(project, source);
    if (!isLineBased(file)) throw new AttuneError('data.fix-not-line-based');
    const lines = (await readFile(file, 'utf8')).split(/\r?\n/);
    if (line > lines.length) throw new AttuneError('data.fix-line-missing', { line });
    return this.fixRow(project, source, line, rowTextFromFields(file, lines, line, fields), onProgress);
  }

  /** Imports the working copy into the project's examples and records the split it was shown with. */
  async import(project: string, source: string, choice: ReadChoice & { valFraction: number; seed: number }, onProgress?: Progress) {
    const file = await this.working(project, source);
    this.removed.forget(project); // new data replaces the old: nothing to undo any more
    const r = await this.engine
      .importData(file, { ...readOptions(choice), out: this.ws().examplesFile(project), valFraction: choice.valFraction, seed: choice.seed, onProgress })
      .catch((e: unknown) => {
        if (e instanceof Error) e.message = withOwnName(e.message, file, source);
        throw e;
      });
    await this.ws().updateProject(project, {
      data: { source, train: r.train, val: r.val, valFraction: choice.valFraction, seed: choice.seed, importedAt: new Date().toISOString() },
    });
    return { report: await explainReport(await withRowText(file, { ...r.report, source }), file, source), train: r.train, val: r.val };
  }

  /** The imported examples file and its split, or a plain error when nothing was imported yet. */
  async imported(project: string) {
    const rec = await this.ws().readProject(project);
    const file = this.ws().examplesFile(project);
    if (!rec.data || !(await exists(file))) throw new AttuneError('tune.data-not-imported');
    return { file, ...rec.data };
  }

  /** The examples of one side of the split, in the engine's order, and all of them. */
  private async splitView(project: string, split: Split) {
    const data = await this.imported(project);
    const all = await this.engine.readExamples(data.file);
    const parts = this.engine.splitExamples(all, { valFraction: data.valFraction, seed: data.seed });
    return { all, list: split === 'train' ? parts.train : parts.validation, data };
  }

  async examples(project: string, split: Split, offset: number, limit: number, query?: string): Promise<ExamplesPage> {
    const { list } = await this.splitView(project, split);
    const q = query?.trim().toLowerCase();
    if (!q) return page(split, list.length, offset, list.slice(offset, offset + limit));
    const found = list.map((e, i) => ({ e, n: i + 1 })).filter(({ e }) => matches(e, q));
    const shown = found.slice(offset, offset + limit);
    return page(split, found.length, offset, shown.map((x) => x.e), shown.map((x) => x.n));
  }

  /** Where the example read from row `row` of the person's file is in the app (null when it was not imported). */
  async locateRow(project: string, row: number): Promise<ExamplePlace | null> {
    const { all } = await this.splitView(project, 'train');
    const at = all.findIndex((e) => e.source?.line === row);
    return at < 0 ? null : ((await this.locate(project, [at + 1]))[0] ?? null);
  }

  /** Where the examples at `lines` of the project's examples file (1-based, as the engine's checks name them) are in the app. */
  async locate(project: string, lines: number[]): Promise<(ExamplePlace | undefined)[]> {
    const { all, data } = await this.splitView(project, 'train');
    const parts = this.engine.splitExamples(all, { valFraction: data.valFraction, seed: data.seed });
    return lines.map((line) => {
      const e = all[line - 1];
      if (!e) return undefined;
      const t = parts.train.indexOf(e);
      const v = t < 0 ? parts.validation.indexOf(e) : -1;
      if (t < 0 && v < 0) return undefined;
      return { split: t >= 0 ? 'train' : 'val', number: (t >= 0 ? t : v) + 1, row: e.source?.line || undefined };
    });
  }

  /** Replaces (or, with null, removes) example `index` of a split; answers with the example now at that place. */
  async saveExample(project: string, split: Split, index: number, example: Example | null): Promise<ExamplesPage> {
    const { all, list, data } = await this.splitView(project, split);
    const target = list[index];
    if (!target) throw new AttuneError('data.example-missing', { number: index + 1 });
    const at = all.indexOf(target);
    // An edit keeps what the engine recorded about the example (its source row); only the messages change.
    if (example) {
      checkEditedExample(example.messages, index + 1);
      all[at] = { ...target, messages: example.messages };
    } else this.removed.remember(project, all.splice(at, 1)[0]!, at);
    await this.engine.writeExamples(this.ws().examplesFile(project), all);
    const next = this.engine.splitExamples(all, { valFraction: data.valFraction, seed: data.seed });
    await this.ws().updateProject(project, { data: { ...data, train: next.train.length, val: next.validation.length } });
    const nextList = split === 'train' ? next.train : next.validation;
    return page(split, nextList.length, index, nextList.slice(index, index + 1));
  }

  /** Puts the last removed example back where it was (Undo). */
  async undoRemove(project: string): Promise<{ restored: true }> {
    const data = await this.imported(project);
    const all = await this.engine.readExamples(data.file);
    this.removed.restore(project, all);
    await this.engine.writeExamples(this.ws().examplesFile(project), all);
    const next = this.engine.splitExamples(all, { valFraction: data.valFraction, seed: data.seed });
    await this.ws().updateProject(project, { data: { ...data, train: next.train.length, val: next.validation.length } });
    return { restored: true };
  }
}

function readOptions(c: ReadChoice): DataOptions {
  return { format: c.format === 'auto' ? undefined : c.format, map: c.map, maxLength: c.maxLength };
}
