/**
 * Delimited text (CSV, TSV, semicolon-separated, ...) as records, read line by line.
 *
 * Why not a CSV library: after a broken quote, the parsers we tried either stop or resume in
 * the middle of the next rows and swallow them into one error, which would lose rows without a
 * report. Here a quoted cell that never closes (by the end of the file, or within
 * MAX_RECORD_LINES lines) is reported as one malformed row and the lines after its first line
 * are read again as rows of their own. Otherwise this follows RFC 4180 as Excel writes it:
 * quoted cells may hold delimiters, line breaks and doubled quotes; a quote inside an unquoted
 * cell, or text right after a closing quote, is kept as text (as Excel does).
 *
 * Blank lines, and rows whose cells are all empty (Excel's trailing ",,,"), are not rows.
 */
import type { TextLine } from './encoding.js';

export const MAX_RECORD_LINES = 2000;
export const MAX_RECORD_CHARS = 4 * 1024 * 1024;

export type CsvItem =
  | { kind: 'record'; line: number; row: number; cells: string[] }
  | { kind: 'error'; line: number; row: number; detail: string };

/** Parses one physical line into the cells; returns the open quoted cell when the line ends inside quotes. */
interface ParseState {
  cells: string[];
  cell: string;
  inQuotes: boolean;
  /** Just saw a closing quote inside a quoted cell (could be an escaped "" ). */
  quoteSeen: boolean;
  /** The current cell started with a quote. */
  quoted: boolean;
  atCellStart: boolean;
  /** Text came right after a closing quote (`"abc"x`): the quotes do not pair up. */
  strayQuote: boolean;
}

function newState(): ParseState {
  return { cells: [], cell: '', inQuotes: false, quoteSeen: false, quoted: false, atCellStart: true, strayQuote: false };
}

function feedLine(s: ParseState, text: string, delim: string): void {
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (s.inQuotes) {
      if (s.quoteSeen) {
        s.quoteSeen = false;
        if (ch === '"') {
          s.cell += '"';
          continue;
        }
        s.inQuotes = false; // the quote closed the cell; fall through to handle ch unquoted
        if (ch !== delim) s.strayQuote = true;
      } else if (ch === '"') {
        s.quoteSeen = true;
        continue;
      } else {
        s.cell += ch;
        continue;
      }
    }
    if (ch === delim) {
      s.cells.push(s.cell);
      s.cell = '';
      s.atCellStart = true;
      s.quoted = false;
      continue;
    }
    if (ch === '"' && s.atCellStart) {
      s.inQuotes = true;
      s.quoted = true;
      s.atCellStart = false;
      continue;
    }
    s.atCellStart = false;
    s.cell += ch;
  }
  // End of the physical line: a pending closing quote closes the cell.
  if (s.inQuotes && s.quoteSeen) {
    s.inQuotes = false;
    s.quoteSeen = false;
  }
}

export async function* csvRecords(lines: AsyncIterable<TextLine>, delim: string): AsyncGenerator<CsvItem> {
  const it = lines[Symbol.asyncIterator]();
  /** Lines to read again after a malformed record (oldest first). */
  const replay: TextLine[] = [];
  const next = async (): Promise<TextLine | undefined> => {
    if (replay.length) return replay.shift();
    const r = await it.next();
    return r.done ? undefined : r.value;
  };
  let row = 0;
  for (;;) {
    const first = await next();
    if (!first) return;
    row++;
    if (first.tooLong) {
      yield { kind: 'error', line: first.line, row, detail: 'the line is too long to read' };
      continue;
    }
    const s = newState();
    const taken: TextLine[] = [first];
    let chars = first.text.length;
    feedLine(s, first.text, delim);
    let broken: string | undefined;
    while (s.inQuotes) {
      if (taken.length >= MAX_RECORD_LINES || chars > MAX_RECORD_CHARS) {
        broken = `a quoted cell that starts here is still open ${taken.length} lines later`;
        break;
      }
      const more = await next();
      if (!more) {
        broken = 'a quoted cell that starts here is never closed';
        break;
      }
      if (more.tooLong) {
        broken = 'a quoted cell that starts here runs into a line too long to read';
        replay.unshift(more);
        break;
      }
      taken.push(more);
      chars += more.text.length + 1;
      s.cell += '\n';
      feedLine(s, more.text, delim);
    }
    if (broken === undefined && s.strayQuote) {
      broken =
        taken.length > 1
          ? `its quotation marks do not pair up: a quoted cell opened here seems to close on line ${taken[taken.length - 1]!.line}`
          : 'there is text right after a closing quotation mark';
    }
    if (broken !== undefined) {
      yield { kind: 'error', line: first.line, row, detail: broken };
      replay.unshift(...taken.slice(1));
      continue;
    }
    s.cells.push(s.cell);
    if (s.cells.every((c) => c.trim() === '')) continue; // blank line or ",,," : not a row
    yield { kind: 'record', line: first.line, row, cells: s.cells };
  }
}

/** Counts delimiters outside quotes per record of a text sample. */
function delimiterCounts(sample: string, delim: string, maxRecords = 50): number[] {
  const counts: number[] = [];
  let inQ = false;
  let n = 0;
  let nonEmpty = false;
  for (let i = 0; i < sample.length && counts.length < maxRecords; i++) {
    const ch = sample[i]!;
    if (ch === '"') inQ = !inQ;
    else if (!inQ && ch === delim) n++;
    else if (!inQ && (ch === '\n' || ch === '\r')) {
      if (nonEmpty) counts.push(n);
      n = 0;
      nonEmpty = false;
      continue;
    }
    if (ch.trim()) nonEmpty = true;
  }
  return counts;
}

export const DELIMITER_CANDIDATES = [',', ';', '\t', '|'] as const;

/**
 * The delimiter of a text sample (its last, possibly partial, line is ignored by the caller):
 * the candidate that appears the same number of times (at least once) in most records.
 */
export function sniffDelimiter(sample: string, preferTab = false): { delimiter: string; consistent: boolean } {
  let best: { delimiter: string; score: number; consistent: boolean } = { delimiter: preferTab ? '\t' : ',', score: -1, consistent: false };
  for (const d of DELIMITER_CANDIDATES) {
    const counts = delimiterCounts(sample, d);
    if (counts.length === 0) continue;
    const freq = new Map<number, number>();
    for (const c of counts) if (c > 0) freq.set(c, (freq.get(c) ?? 0) + 1);
    let mode = 0;
    let modeN = 0;
    for (const [c, n] of freq) if (n > modeN || (n === modeN && c > mode)) [mode, modeN] = [c, n];
    if (mode === 0) continue;
    const share = modeN / counts.length;
    const score = share * 10 + Math.min(mode, 5) * 0.1 + (preferTab && d === '\t' ? 1 : 0);
    if (score > best.score) best = { delimiter: d, score, consistent: share >= 0.6 };
  }
  return { delimiter: best.delimiter, consistent: best.consistent };
}

export function delimiterName(d: string): string {
  return d === ',' ? 'comma' : d === ';' ? 'semicolon' : d === '\t' ? 'tab' : d === '|' ? 'vertical bar' : `"${d}"`;
}
