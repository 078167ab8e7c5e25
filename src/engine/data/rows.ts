/**
 * Every container as one stream of rows: each row is a drafted conversation or the reason it
 * is not one, with its place in the file. Fatal conditions (a mapped column that does not
 * exist, a sheet that is not there) are thrown as AttuneError before any row is yielded.
 */
import { stat } from 'node:fs/promises';
import { AttuneError } from '../../shared/errors.js';
import type { DiagnosticCode } from '../../shared/diagnostics.js';
import { readTextChunks, splitLines, type TextLine } from './encoding.js';
import { csvRecords } from './csv.js';
import { draftFromCells, draftRecord, type Drafted } from './formats.js';
import { jsonArrayItems, jsonErrorDetail } from './json-stream.js';
import { qaPairs } from './qa-text.js';
import { cellText, displayHeaders, resolveColumns, type ResolvedColumns } from './tables.js';
import { unwrapObject, type DetectedFormat } from './detect.js';
import type { ColumnMap } from './types.js';

export const MAX_LINE_CHARS = 64 * 1024 * 1024;

export type Row =
  | { kind: 'row'; line: number; sheet?: string; where: string; drafted: Drafted }
  /** Not a row: something to tell about the file (columns guessed, list not closed, ...). */
  | { kind: 'note'; line: number; sheet?: string; code: DiagnosticCode; params: Record<string, string | number> };

export interface RowSourceOptions {
  map?: ColumnMap;
  sheet?: string;
  onBytes?: (bytesRead: number, totalBytes: number) => void;
}

const lineWhere = (line: number) => `Line ${line}`;

function failRow(line: number, where: string, code: DiagnosticCode, params: Record<string, string | number> = {}, field?: string): Row {
  return { kind: 'row', line, where, drafted: { ok: false, failure: { code, field, params } } };
}

export async function* readRows(file: string, det: DetectedFormat, opts: RowSourceOptions = {}): AsyncGenerator<Row> {
  const total = (await stat(file)).size;
  const onBytes = (b: number) => opts.onBytes?.(b, total);
  if (det.container === 'xlsx') {
    yield* xlsxRows(file, opts);
    opts.onBytes?.(total, total);
    return;
  }
  const chunks = readTextChunks(file, det.encoding!, onBytes);
  const lines = () => splitLines(chunks, MAX_LINE_CHARS);
  switch (det.container) {
    case 'jsonl':
      yield* jsonlRows(lines(), det);
      return;
    case 'json':
      yield* jsonRows(chunks, det);
      return;
    case 'csv':
      yield* tableRows(csvRecords(lines(), det.delimiter ?? ','), file, opts.map, undefined);
      return;
    case 'text':
      yield* qaRows(lines());
      return;
  }
}

async function* jsonlRows(lines: AsyncIterable<TextLine>, det: DetectedFormat): AsyncGenerator<Row> {
  for await (const l of lines) {
    const where = lineWhere(l.line);
    if (l.tooLong) {
      yield failRow(l.line, where, 'data.line-too-long', { limit: MAX_LINE_CHARS });
      continue;
    }
    const text = l.text.replace(/^\uFEFF/, '');
    if (!text.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      yield failRow(l.line, where, 'data.invalid-json', { detail: jsonErrorDetail(e) });
      continue;
    }
    yield { kind: 'row', line: l.line, where, drafted: draftRecord(value, det.format) };
  }
}

async function* jsonRows(chunks: AsyncIterable<string>, det: DetectedFormat): AsyncGenerator<Row> {
  const seen: { top: 'array' | 'object' | 'other' } = { top: 'array' };
  for await (const item of jsonArrayItems(chunks, { onTopLevel: (k) => (seen.top = k) })) {
    const top = seen.top;
    if (item.kind === 'note') {
      yield { kind: 'note', line: item.line, code: 'data.json-structure', params: { where: lineWhere(item.line), detail: item.detail } };
      continue;
    }
    const where = top === 'array' ? `Example ${item.index + 1} (line ${item.line})` : lineWhere(item.line);
    if (item.kind === 'error') {
      yield failRow(item.line, where, 'data.invalid-json', { detail: item.detail });
      continue;
    }
    if (top === 'object') {
      const list = unwrapObject(item.value);
      if (list) {
        for (let i = 0; i < list.length; i++) {
          yield { kind: 'row', line: item.line, where: `Example ${i + 1}`, drafted: draftRecord(list[i], det.format) };
        }
        continue;
      }
    }
    yield { kind: 'row', line: item.line, where, drafted: draftRecord(item.value, det.format) };
  }
}

async function* qaRows(lines: AsyncIterable<TextLine>): AsyncGenerator<Row> {
  for await (const it of qaPairs(lines)) {
    const where = lineWhere(it.line);
    if (it.kind === 'error') {
      yield failRow(it.line, where, 'data.qa-unpaired', { detail: it.detail.charAt(0).toUpperCase() + it.detail.slice(1) });
      continue;
    }
    yield {
      kind: 'row',
      line: it.line,
      where,
      drafted: draftFromCells({ instruction: { value: it.question, column: 'Q:' }, response: { value: it.answer, column: 'A:' } }, 'part'),
    };
  }
}

type TableItem = { kind: 'record'; line: number; row: number; cells: string[] } | { kind: 'error'; line: number; row: number; detail: string };

function tableWhere(row: number, line: number, sheet?: string): string {
  return `Row ${row}${sheet !== undefined ? ` (sheet '${sheet}')` : ''}${line !== row ? ` (line ${line})` : ''}`;
}

async function* tableRows(items: AsyncIterable<TableItem>, file: string, map: ColumnMap | undefined, sheet: string | undefined): AsyncGenerator<Row> {
  let headers: string[] | undefined;
  let cols: ResolvedColumns | undefined;
  for await (const it of items) {
    const where = tableWhere(it.row, it.line, sheet);
    if (!headers) {
      if (it.kind === 'error') {
        // The header itself is broken: report it and keep looking for a header.
        yield { kind: 'row', line: it.row, sheet, where, drafted: { ok: false, failure: { code: 'data.csv-malformed', params: { detail: it.detail } } } };
        continue;
      }
      headers = it.cells.map((c) => c.trim());
      const shown = displayHeaders(headers);
      const r = resolveColumns(headers, map);
      if (!r.ok) {
        const columns = shown.map((h) => `"${h}"`).join(', ');
        if (r.code === 'data.missing-column') {
          throw new AttuneError(r.code, { file, column: r.column, columns }, { file, line: it.line, field: r.column });
        }
        throw new AttuneError(r.code, { file, columns, first: shown[0] ?? 'A', second: shown[1] ?? 'B' }, { file, line: it.line });
      }
      cols = r.columns;
      if (r.guessed) {
        yield { kind: 'note', line: it.line, sheet, code: 'data.columns-guessed', params: { instruction: shown[cols.instruction]!, response: shown[cols.response]! } };
      }
      continue;
    }
    if (it.kind === 'error') {
      yield { kind: 'row', line: it.row, sheet, where, drafted: { ok: false, failure: { code: 'data.csv-malformed', params: { detail: it.detail } } } };
      continue;
    }
    const shown = displayHeaders(headers);
    const cell = (i: number | undefined) => (i === undefined ? undefined : { value: it.cells[i] ?? '', column: shown[i]! });
    const c = cols!;
    yield {
      kind: 'row',
      line: it.row,
      sheet,
      where,
      drafted: draftFromCells({ instruction: cell(c.instruction), response: cell(c.response), context: cell(c.context), system: cell(c.system) }),
    };
  }
}

async function* xlsxRows(file: string, opts: RowSourceOptions): AsyncGenerator<Row> {
  const { default: ExcelJS } = await import('exceljs');
  const wb = new ExcelJS.Workbook();
  try {
    await wb.xlsx.readFile(file);
  } catch (e) {
    throw new AttuneError('data.format-mismatch', { file, format: 'Excel (.xlsx)', detail: `the workbook could not be opened (${(e as Error).message})` }, { file });
  }
  const sheets = wb.worksheets;
  const ws = opts.sheet !== undefined ? wb.getWorksheet(opts.sheet) ?? sheets.find((s) => s.name.toLowerCase() === opts.sheet!.toLowerCase()) : sheets.find((s) => s.actualRowCount > 0) ?? sheets[0];
  if (!ws) {
    const code = 'data.sheet-not-found' as const;
    throw new AttuneError(code, { file, sheet: opts.sheet ?? '(first)', sheets: sheets.map((s) => `"${s.name}"`).join(', ') || '(none)' }, { file });
  }
  const items: TableItem[] = [];
  ws.eachRow({ includeEmpty: false }, (row, rowNumber) => {
    const values = row.values as unknown[]; // 1-based
    const cells: string[] = [];
    for (let i = 1; i < values.length; i++) cells.push(cellText(values[i]));
    if (cells.every((c) => !c.trim())) return;
    items.push({ kind: 'record', line: rowNumber, row: rowNumber, cells });
  });
  async function* gen() {
    yield* items;
  }
  yield* tableRows(gen(), file, opts.map, ws.name);
}
