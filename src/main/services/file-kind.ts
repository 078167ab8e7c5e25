/**
 * The Data step's words about a file Attune cannot read examples from: what the file is (from its
 * first bytes, not its name: a Word document renamed .csv is still a Word document), what Attune
 * reads instead, and the person's own file name wherever the engine named the working copy.
 */
import { open } from 'node:fs/promises';
import type { DataReport } from '../../shared/contract.js';
import { formatDiagnostic } from '../../shared/diagnostics.js';
import { AttuneError } from '../../shared/errors.js';
import { READABLE_IN_WORDS } from '../../shared/formats.js';

/** What a file is, as a person would say it; undefined when it may well hold examples (text, a workbook). */
export type FileKind = 'word' | 'powerpoint' | 'pdf' | 'old-office' | 'zip' | 'picture' | 'binary';

const KIND_WORDS: Record<FileKind, string> = {
  word: 'a Word document',
  powerpoint: 'a PowerPoint presentation',
  pdf: 'a PDF document',
  'old-office': 'an older Word or Excel file (.doc or .xls)',
  zip: 'a compressed (zip) folder',
  picture: 'a picture',
  binary: 'a program or other non-text file',
};

/** The kind of file from its first 64 KiB. */
export function sniffKind(head: Buffer): FileKind | undefined {
  const starts = (sig: number[]) => sig.every((b, i) => head[i] === b);
  if (starts([0x25, 0x50, 0x44, 0x46])) return 'pdf'; // %PDF
  if (starts([0xd0, 0xcf, 0x11, 0xe0])) return 'old-office';
  if (starts([0x89, 0x50, 0x4e, 0x47]) || starts([0xff, 0xd8, 0xff]) || starts([0x47, 0x49, 0x46, 0x38])) return 'picture';
  if (starts([0x50, 0x4b, 0x03, 0x04])) {
    // An Office file is a zip whose member names say which program wrote it.
    const names = head.toString('latin1');
    if (names.includes('word/')) return 'word';
    if (names.includes('ppt/')) return 'powerpoint';
    if (names.includes('xl/')) return undefined; // an Excel workbook: Attune reads those
    return 'zip';
  }
  // Text has no NUL bytes (UTF-16 text has many, but also a byte-order mark or a NUL pattern every other byte).
  const utf16 = starts([0xff, 0xfe]) || starts([0xfe, 0xff]);
  if (!utf16 && head.subarray(0, 8192).includes(0)) return 'binary';
  return undefined;
}

async function readHead(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** `text` with the working copy's path replaced by the person's file name. */
export function withOwnName(text: string, workingFile: string, name: string): string {
  return text.split(workingFile).join(`“${name}”`);
}

/** A data problem's words for the app: what the command line says with an option, the app says with its own controls. */
export function appWords(message: string): string {
  return message
    .replace(/ \(--drop-near-duplicates, or "Leave out near duplicates" in the app\)/, ' (tick “Leave out near duplicates” under “Keep some examples aside”)')
    .replace(/ Say which is which, for example --map [^ ]+\.$/, ' Name the columns in the first row, for example “question” and “answer”, then add the file again.')
    .replace(/ \(--template\)/, ' (Chat template, in the Tune step’s advanced settings)');
}

/**
 * The report as the Data step shows it: the person's file name instead of the working copy's path;
 * for a file that could not be read, one message saying what the file is and what Attune reads,
 * and no token counts or time (there is nothing to count).
 */
export async function explainReport(report: DataReport, workingFile: string, name: string): Promise<DataReport> {
  const problems = report.problems.map((p) => ({ ...p, message: appWords(withOwnName(p.message, workingFile, name)) }));
  const nothing = report.fatal || report.accepted === 0;
  const out: DataReport = { ...report, problems, tokens: nothing ? undefined : report.tokens, estimatedTrainingSeconds: nothing ? undefined : report.estimatedTrainingSeconds };
  if (!report.fatal) return out;
  const head = await readHead(workingFile).catch(() => Buffer.alloc(0));
  if (head.length === 0) return out; // empty: the engine's message (with the name) says it
  const kind = sniffKind(head);
  const first = report.problems.find((p) => p.severity === 'fatal');
  let message: string | undefined;
  if (kind) message = formatDiagnostic('data.not-examples-file', { name, what: KIND_WORDS[kind], readable: READABLE_IN_WORDS });
  else if (first?.code === 'data.format-unknown') message = formatDiagnostic('data.kind-unknown', { name, readable: READABLE_IN_WORDS });
  if (!message) return out;
  const code = kind ? 'data.not-examples-file' : 'data.kind-unknown';
  return { ...out, problems: [{ code, severity: 'fatal', rejected: true, message }] };
}

/** The error for a chosen file that could not be copied into the project, in words. */
export function unreadableOriginal(name: string, err: unknown): AttuneError {
  const code = (err as NodeJS.ErrnoException)?.code;
  const detail =
    code === 'ENOENT'
      ? 'the file is no longer there'
      : code === 'EACCES' || code === 'EPERM'
        ? 'you do not have permission to open it'
        : code === 'EISDIR'
          ? 'it is a folder, not a file'
          : 'the computer could not read it';
  return new AttuneError('data.original-unreadable', { name, detail }, { file: name });
}
