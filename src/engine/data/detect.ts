/**
 * What kind of file is this? Decided from the first 64 KiB (and the name's extension as a hint),
 * so detection costs the same for a 500 MB file as for a small one.
 */
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { AttuneError } from '../../shared/errors.js';
import { ENCODING_NAMES, decodeBuffer, sniffEncoding, type SniffedEncoding } from './encoding.js';
import { formatOfRecord } from './formats.js';
import { delimiterName, sniffDelimiter } from './csv.js';
import { QA_MARKER } from './qa-text.js';
import type { Container, DataFormat } from './types.js';

export interface DetectedFormat {
  format: DataFormat;
  container: Container;
  encoding?: SniffedEncoding;
  delimiter?: string;
  how: 'auto' | 'chosen';
  /** A short phrase for the report ("JSONL, UTF-8"). */
  description: string;
}

export const FORMAT_NAMES: Record<DataFormat, string> = {
  alpaca: 'Alpaca (instruction, input, output)',
  dolly: 'Dolly (instruction, context, response)',
  sharegpt: 'ShareGPT conversations',
  openai: 'OpenAI chat messages',
  qa: 'question/answer pairs',
  csv: 'a table of delimited text (CSV)',
  xlsx: 'an Excel workbook',
  preference: 'preference pairs (chosen and rejected answers)',
};

const SAMPLE_BYTES = 64 * 1024;

function fatal(code: 'data.file-unreadable' | 'data.file-empty' | 'data.format-unknown' | 'data.format-mismatch', file: string, params: Record<string, string> = {}): AttuneError {
  return new AttuneError(code, { file, ...params }, { file });
}

async function readSample(file: string): Promise<{ sample: Buffer; size: number }> {
  let size: number;
  try {
    const st = await stat(file);
    if (st.isDirectory()) throw fatal('data.file-unreadable', file, { detail: 'it is a folder, not a file' });
    size = st.size;
  } catch (e) {
    if (e instanceof AttuneError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw fatal('data.file-unreadable', file, { detail: code === 'ENOENT' ? 'there is no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message });
  }
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(Math.min(SAMPLE_BYTES, size));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return { sample: buf.subarray(0, bytesRead), size };
  } finally {
    await fh.close();
  }
}

/** Complete lines of a decoded sample (the last one may be cut by the sample's end). */
function sampleLines(text: string, complete: boolean): string[] {
  const lines = text.split(/\r\n|\n|\r/);
  if (!complete) lines.pop();
  return lines;
}

function recordsOfSample(text: string, complete: boolean, ext: string): { container: 'json' | 'jsonl'; records: unknown[] } {
  const trimmed = text.trimStart();
  const isJsonlName = ext === '.jsonl' || ext === '.ndjson';
  const firstLineParses = (() => {
    try {
      JSON.parse(text.split(/\r\n|\n|\r/).find((l) => l.trim()) ?? '');
      return true;
    } catch {
      return false;
    }
  })();
  // A ".jsonl" whose first line is a complete JSON value stays JSONL even if that value is a list.
  if (trimmed.startsWith('[') && !(isJsonlName && firstLineParses)) {
    // Parse whole elements from the sample.
    const records: unknown[] = [];
    let depth = 0;
    let inStr = false;
    let esc = false;
    let start = -1;
    for (let i = trimmed.indexOf('[') + 1; i < trimmed.length && records.length < 20; i++) {
      const ch = trimmed[i]!;
      if (inStr) {
        if (esc) esc = false;
        else if (ch === '\\') esc = true;
        else if (ch === '"') inStr = false;
        continue;
      }
      if (ch === '"') inStr = true;
      else if (ch === '{' || ch === '[') {
        if (depth === 0) start = i;
        depth++;
      } else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0 && start >= 0) {
          try {
            records.push(JSON.parse(trimmed.slice(start, i + 1)));
          } catch {
            /* a broken element: ignore for detection */
          }
          start = -1;
        }
        if (depth < 0) break;
      }
    }
    return { container: 'json', records };
  }
  // JSONL, or a single (pretty-printed) JSON object.
  const records: unknown[] = [];
  let parsedLines = 0;
  let nonEmpty = 0;
  for (const l of sampleLines(text, complete)) {
    if (!l.trim()) continue;
    nonEmpty++;
    try {
      records.push(JSON.parse(l));
      parsedLines++;
    } catch {
      /* ignore */
    }
    if (records.length >= 20) break;
  }
  if (parsedLines === 0 && nonEmpty > 0) {
    // No line parses on its own: one pretty-printed object, or JSONL whose lines are all broken.
    const firstLine = text.split(/\r\n|\n|\r/).find((l) => l.trim())!.trim();
    const oneLineObject = firstLine.length > 1 && firstLine.endsWith('}');
    if (ext === '.jsonl' || ext === '.ndjson') return { container: 'jsonl', records: [] };
    if (complete) {
      try {
        const whole = JSON.parse(text) as unknown;
        const wrapped = unwrapObject(whole);
        return { container: 'json', records: wrapped ?? [whole] };
      } catch {
        /* fall through */
      }
    }
    return { container: oneLineObject ? 'jsonl' : 'json', records: [] };
  }
  return { container: 'jsonl', records };
}

/** `{ "data": [ ... ] }`: the one list of examples inside a top-level object, if there is one. */
export function unwrapObject(v: unknown): unknown[] | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  if (formatOfRecord(v)) return undefined;
  const lists = Object.values(v as Record<string, unknown>).filter((x) => Array.isArray(x) && x.some((e) => e && typeof e === 'object'));
  return lists.length === 1 ? (lists[0] as unknown[]) : undefined;
}

function voteFormat(records: unknown[]): DataFormat | undefined {
  const votes = new Map<DataFormat, number>();
  for (const r of records) {
    const f = formatOfRecord(r);
    if (f) votes.set(f, (votes.get(f) ?? 0) + 1);
  }
  let best: DataFormat | undefined;
  let n = 0;
  for (const [f, c] of votes) if (c > n) [best, n] = [f, c];
  return best;
}

export function looksLikeQaText(lines: string[]): boolean {
  let q = 0;
  let a = 0;
  for (const l of lines) {
    const m = QA_MARKER.exec(l);
    if (!m) continue;
    if (m[1]!.toLowerCase().startsWith('q')) q++;
    else a++;
  }
  return q > 0 && a > 0;
}

export async function detectFormat(file: string, chosen: DataFormat | 'auto' = 'auto'): Promise<DetectedFormat> {
  const { sample, size } = await readSample(file);
  if (size === 0) throw fatal('data.file-empty', file);
  const ext = path.extname(file).toLowerCase();
  const how = chosen === 'auto' ? 'auto' : 'chosen';
  const isZip = sample.length >= 4 && sample[0] === 0x50 && sample[1] === 0x4b && sample[2] === 0x03 && sample[3] === 0x04;
  const isOle = sample.length >= 4 && sample[0] === 0xd0 && sample[1] === 0xcf && sample[2] === 0x11 && sample[3] === 0xe0;
  if (isOle) {
    throw fatal('data.format-mismatch', file, { format: 'readable', detail: 'it is an old-style Excel (.xls) or Word file; open it in Excel and save it as .xlsx or CSV' });
  }
  if (isZip || chosen === 'xlsx') {
    if (!isZip) throw fatal('data.format-mismatch', file, { format: 'Excel (.xlsx)', detail: 'it is not a workbook (an .xlsx file is a zip archive)' });
    if (chosen !== 'auto' && chosen !== 'xlsx') throw fatal('data.format-mismatch', file, { format: chosen, detail: 'it is a zip archive (an Excel workbook?)' });
    return { format: 'xlsx', container: 'xlsx', how, description: 'Excel workbook' };
  }
  const encoding = sniffEncoding(sample);
  const complete = sample.length === size;
  const text = decodeBuffer(sample, encoding).replace(/^\uFEFF/, '');
  if (!text.trim()) throw fatal('data.file-empty', file);
  const encName = ENCODING_NAMES[encoding.encoding] + (encoding.hasBom ? ' with byte-order mark' : '');
  const lines = sampleLines(text, complete);
  const first = text.trimStart()[0];

  const asTable = (): DetectedFormat => {
    const { delimiter } = sniffDelimiter(lines.join('\n') + '\n', ext === '.tsv' || ext === '.tab');
    return { format: 'csv', container: 'csv', encoding, delimiter, how, description: `${delimiterName(delimiter)}-separated table, ${encName}` };
  };

  if (chosen === 'csv') return asTable();
  if (chosen === 'qa' && first !== '{' && first !== '[') return { format: 'qa', container: 'text', encoding, how, description: `Q:/A: text, ${encName}` };
  if (chosen !== 'auto') {
    if (first !== '{' && first !== '[') throw fatal('data.format-mismatch', file, { format: chosen, detail: 'it is not JSON (it should start with "[" or "{")' });
    const { container } = recordsOfSample(text, complete, ext);
    return { format: chosen, container, encoding, how, description: `${container === 'json' ? 'JSON' : 'JSONL'}, ${encName}` };
  }

  if (first === '{' || first === '[') {
    const { container, records } = recordsOfSample(text, complete, ext);
    const format = voteFormat(records);
    if (format) return { format, container, encoding, how, description: `${container === 'json' ? 'JSON' : 'JSONL'}, ${encName}` };
    if (ext === '.json' || ext === '.jsonl' || records.length > 0) {
      throw fatal('data.format-unknown', file);
    }
  }
  if (looksLikeQaText(lines)) return { format: 'qa', container: 'text', encoding, how, description: `Q:/A: text, ${encName}` };
  if (ext === '.csv' || ext === '.tsv' || ext === '.tab') return asTable();
  const t = asTable();
  if (sniffDelimiter(lines.join('\n') + '\n').consistent) return t;
  throw fatal('data.format-unknown', file);
}
