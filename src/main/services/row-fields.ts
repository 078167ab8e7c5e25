/**
 * A rejected row as its fields (issue #19, item 4): a person fixes "the answer", not a line of
 * JSON or CSV. A JSONL row (even one whose JSON is broken, as long as its "name": "text" pairs can
 * be read) or a CSV/TSV row under its header becomes a list of named fields, with the fields the
 * format needs and the row lacks added empty; the edited fields are written back as one line in
 * the file's own syntax (JSON, or cells quoted as CSV needs).
 */
import path from 'node:path';
import type { RowField } from '../../shared/contract.js';
import { AttuneError } from '../../shared/errors.js';

/** The text fields each flat JSON format's rows need, by the engine's format name. */
const NEEDED: Record<string, string[]> = {
  alpaca: ['instruction', 'output'],
  dolly: ['instruction', 'response'],
  qa: ['question', 'answer'],
  preference: ['prompt', 'chosen', 'rejected'],
};

const isJsonLines = (file: string) => ['.jsonl', '.ndjson'].includes(path.extname(file).toLowerCase());
const isTable = (file: string) => ['.csv', '.tsv', '.txt'].includes(path.extname(file).toLowerCase());

/** A JSON row's "name": "text" pairs, in order: parsed whole when it parses (then only if every value is text), else read pair by pair. */
function jsonPairs(text: string): [string, string][] | undefined {
  for (const candidate of [text, `${text}}`, `${text}"}`]) {
    try {
      const v = JSON.parse(candidate) as unknown;
      if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
      const entries = Object.entries(v as Record<string, unknown>);
      if (!entries.every(([, x]) => typeof x === 'string' || x === null)) return undefined; // nested (chat messages): raw text only
      return entries.map(([k, x]) => [k, (x as string | null) ?? '']);
    } catch {
      /* try the next repair, then pair by pair */
    }
  }
  const pairs: [string, string][] = [];
  for (const m of text.matchAll(/"((?:[^"\\]|\\.)*)"\s*:\s*"((?:[^"\\]|\\.)*)"/g)) {
    try {
      pairs.push([JSON.parse(`"${m[1]}"`) as string, JSON.parse(`"${m[2]}"`) as string]);
    } catch {
      return undefined;
    }
  }
  return pairs.length ? pairs : undefined;
}

/** The delimiter of a header line: the most frequent of , ; tab | outside quotes. */
export function sniffDelimiter(header: string, file: string): string {
  if (path.extname(file).toLowerCase() === '.tsv') return '\t';
  const counts = new Map<string, number>();
  let quoted = false;
  for (const ch of header) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && [',', ';', '\t', '|'].includes(ch)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? ',';
}

/** One CSV line's cells (quotes as CSV writes them). */
export function splitCells(line: string, delimiter: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (cell += '"'), i++;
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"' && cell === '') quoted = true;
    else if (ch === delimiter) cells.push(cell), (cell = '');
    else cell += ch;
  }
  cells.push(cell);
  return cells;
}

const quoteCell = (v: string, delimiter: string) => (v.includes(delimiter) || v.includes('"') || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v);

/** The fields of line `line` (1-based) of a line-based file, or undefined when it is best fixed as text. */
export function rowFields(file: string, lines: string[], line: number, format: string, missing?: string): RowField[] | undefined {
  const text = lines[line - 1];
  if (text === undefined) return undefined;
  if (isJsonLines(file)) {
    const pairs = jsonPairs(text);
    if (!pairs) return undefined;
    const names = new Set(pairs.map(([name]) => name));
    // A question/answer file may name its fields prompt/completion instead.
    const alt = format === 'qa' && (names.has('prompt') || names.has('completion'));
    const needed = new Set([...(alt ? ['prompt', 'completion'] : (NEEDED[format] ?? [])), ...(missing ? [missing] : [])]);
    const fields: RowField[] = pairs.map(([name, value]) => ({ name, value, ...(needed.has(name) ? { needed: true } : {}) }));
    for (const n of needed) if (!names.has(n)) fields.push({ name: n, value: '', needed: true });
    return fields;
  }
  if (isTable(file) && format === 'csv' && line > 1) {
    const delimiter = sniffDelimiter(lines[0] ?? '', file);
    const header = splitCells(lines[0] ?? '', delimiter).map((h) => h.trim());
    if (header.length < 2 || header.some((h) => !h)) return undefined;
    const cells = splitCells(text, delimiter);
    return header.map((name, i) => ({ name, value: cells[i] ?? '', ...(name === missing ? { needed: true } : {}) }));
  }
  return undefined;
}

/** Line `line` written back from its edited fields, in the file's own syntax. */
export function rowTextFromFields(file: string, lines: string[], line: number, fields: RowField[]): string {
  if (fields.some((f) => /[\r\n]/.test(f.value)) && !isJsonLines(file)) throw new AttuneError('data.fix-one-line');
  if (isJsonLines(file)) {
    const before = jsonPairs(lines[line - 1] ?? '') ?? [];
    const out: Record<string, string> = Object.fromEntries(before);
    for (const f of fields) out[f.name] = f.value;
    return JSON.stringify(out);
  }
  const delimiter = sniffDelimiter(lines[0] ?? '', file);
  const header = splitCells(lines[0] ?? '', delimiter).map((h) => h.trim());
  const byName = new Map(fields.map((f) => [f.name, f.value]));
  const old = splitCells(lines[line - 1] ?? '', delimiter);
  return header.map((h, i) => quoteCell(byName.get(h) ?? old[i] ?? '', delimiter)).join(delimiter);
}
