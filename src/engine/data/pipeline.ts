/**
 * checkDataFile / importDataFile: rows in, clean conversations out, every problem named.
 *
 * Each row read is either imported or rejected with exactly one rejecting problem (the first
 * rule it breaks), so `rowsRead = imported + rejected` and `rejected = Σ rejectedBy` always
 * hold. Order of the checks: shape of the record → conversation rules (roles, empty text,
 * garbled text) → exact duplicate → near duplicate → chat template and length. Only imported
 * examples count as "the first" of a duplicate. Near duplicates are kept with a warning unless
 * `dropNearDuplicates` asks to leave them out.
 *
 * Memory: rows stream through; per imported example the importer keeps its id, two lengths,
 * a 64-hash signature and where it came from (a few hundred bytes), never its text.
 */
import { createWriteStream } from 'node:fs';
import { access, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { AttuneError, isAttuneError } from '../../shared/errors.js';
import { DIAGNOSTICS, formatDiagnostic, type DiagnosticCode } from '../../shared/diagnostics.js';
import { detectFormat, type DetectedFormat } from './detect.js';
import { conversationId, DuplicateIndex } from './dedupe.js';
import { ENCODING_NAMES } from './encoding.js';
import { MISDECODING_CODES } from './mojibake.js';
import { readRows } from './rows.js';
import { splitIndices } from './split.js';
import { estimateTokens, estimateTrainingSeconds, lengthStats, U32List } from './stats.js';
import { tokenizeConversation } from './tokenize.js';
import { validateConversation } from './validate.js';
import {
  DEFAULT_EPOCHS,
  DEFAULT_SEED,
  DEFAULT_TOKENS_PER_SECOND,
  DEFAULT_VAL_FRACTION,
  type ChatMessage,
  type CheckOptions,
  type DataReport,
  type Example,
  type ImportOptions,
  type Problem,
} from './types.js';

interface Sink {
  write(e: Example): Promise<void>;
}

function emptyReport(file: string, opts: CheckOptions): DataReport {
  return {
    file,
    format: opts.format && opts.format !== 'auto' ? opts.format : 'csv',
    detected: { format: opts.format && opts.format !== 'auto' ? opts.format : 'csv', container: 'csv', how: opts.format && opts.format !== 'auto' ? 'chosen' : 'auto' },
    counts: { rowsRead: 0, imported: 0, rejected: 0, rejectedBy: {}, duplicates: 0, exactDuplicates: 0, nearDuplicates: 0, warnings: 0 },
    problems: [],
    problemCounts: {},
    stats: {
      examples: 0,
      multiTurn: 0,
      withSystemPrompt: 0,
      tokenCounting: opts.tokenizer ? 'model' : 'estimate',
      tokenLengths: lengthStats([]),
    },
    split: { seed: opts.seed ?? DEFAULT_SEED, valFraction: opts.valFraction ?? DEFAULT_VAL_FRACTION, train: 0, validation: 0, stratifiedBy: 'characters' },
    estimatedTrainingSeconds: 0,
    training: { epochs: opts.epochs ?? DEFAULT_EPOCHS, tokensPerSecond: opts.tokensPerSecond ?? DEFAULT_TOKENS_PER_SECOND, trainTokens: 0 },
    fatal: false,
  };
}

function fatalReport(report: DataReport, err: AttuneError): DataReport {
  const code = (err.code in DIAGNOSTICS ? err.code : 'data.file-unreadable') as DiagnosticCode;
  report.fatal = true;
  const p: Problem = { code, severity: 'fatal', file: report.file, line: err.details.line ?? 0, message: err.message, rejected: false };
  if (err.details.field !== undefined) p.field = err.details.field;
  report.problems.unshift(p);
  report.problemCounts[code] = (report.problemCounts[code] ?? 0) + 1;
  return report;
}

async function run(file: string, opts: CheckOptions, sink: Sink | undefined): Promise<DataReport> {
  const report = emptyReport(file, opts);
  const maxPerCode = opts.maxProblemsPerCode ?? 200;
  let det: DetectedFormat;
  try {
    det = await detectFormat(file, opts.format ?? 'auto');
  } catch (e) {
    if (isAttuneError(e)) return fatalReport(report, e);
    throw e;
  }
  report.format = det.format;
  report.detected = {
    format: det.format,
    container: det.container,
    encoding: det.encoding ? ENCODING_NAMES[det.encoding.encoding] : undefined,
    delimiter: det.delimiter,
    how: det.how,
  };

  const problem = (code: DiagnosticCode, at: { line: number; sheet?: string; where?: string; field?: string }, params: Record<string, string | number>, rejected: boolean) => {
    const n = (report.problemCounts[code] = (report.problemCounts[code] ?? 0) + 1);
    if (rejected) {
      report.counts.rejected++;
      report.counts.rejectedBy[code] = (report.counts.rejectedBy[code] ?? 0) + 1;
    }
    if (n > maxPerCode) return;
    const p: Problem = {
      code,
      severity: DIAGNOSTICS[code].severity,
      file,
      line: at.line,
      message: formatDiagnostic(code, { file, where: at.where, ...params }),
      rejected,
    };
    if (at.sheet !== undefined) p.sheet = at.sheet;
    if (at.field !== undefined) p.field = at.field;
    report.problems.push(p);
  };

  if (det.encoding?.encoding === 'windows-1252') {
    problem('data.encoding-fallback', { line: 0 }, { encoding: ENCODING_NAMES['windows-1252'] }, false);
  }

  const dupes = new DuplicateIndex<string>();
  const tokenLens = new U32List();
  const charLens = new U32List();
  const ids: string[] = [];
  const baseName = path.basename(file);
  const progress = { bytesRead: 0, totalBytes: 0, rowsRead: 0 };
  const tell = () => opts.onProgress?.({ ...progress, rowsRead: report.counts.rowsRead });

  try {
    for await (const row of readRows(file, det, {
      map: opts.map,
      sheet: opts.sheet,
      onBytes: (b, t) => {
        progress.bytesRead = b;
        progress.totalBytes = t;
        tell();
      },
    })) {
      if (row.kind === 'note') {
        problem(row.code, { line: row.line, sheet: row.sheet, where: String(row.params.where ?? '') }, { ...row.params }, false);
        continue;
      }
      report.counts.rowsRead++;
      if (report.counts.rowsRead % 5000 === 0) tell();
      const at = { line: row.line, sheet: row.sheet, where: row.where };
      if (!row.drafted.ok) {
        const f = row.drafted.failure;
        problem(f.code, { ...at, field: f.field }, f.params, true);
        continue;
      }
      const drafted = row.drafted.messages;
      const invalid = validateConversation(drafted);
      if (invalid) {
        problem(invalid.code, { ...at, field: invalid.field }, invalid.params, true);
        continue;
      }
      const messages: ChatMessage[] = drafted.map((m) => ({ role: m.role, content: m.content }));
      // A preference pair: the rejected answer passes the same rules, and must differ from the chosen one.
      const rejectedDraft = row.drafted.rejected;
      if (rejectedDraft) {
        const bad = validateConversation([...drafted.slice(0, -1), rejectedDraft]);
        if (bad) {
          problem(bad.code, { ...at, field: bad.field }, bad.params, true);
          continue;
        }
        if (rejectedDraft.content === messages[messages.length - 1]!.content) {
          problem('data.preference-identical', { ...at, field: rejectedDraft.field }, {}, true);
          continue;
        }
      }
      const rejected = rejectedDraft?.content;
      const keyed: ChatMessage[] = rejected === undefined ? messages : [...messages, { role: 'assistant', content: rejected }];
      const id = conversationId(keyed);
      const key = dupes.prepare(id, keyed);
      const hit = dupes.check(key);
      let nearWarning = false;
      if (hit) {
        if (hit.kind === 'exact') {
          report.counts.exactDuplicates++;
          problem('data.duplicate', at, { first: hit.first }, true);
          report.counts.duplicates++;
          continue;
        }
        report.counts.nearDuplicates++;
        report.counts.duplicates++;
        const alike = { first: hit.first, similarity: Math.round(hit.similarity * 100) };
        if (opts.dropNearDuplicates) {
          problem('data.near-duplicate-dropped', at, alike, true);
          continue;
        }
        // Kept: a rewording is often on purpose (the model learns that wording does not matter).
        problem('data.near-duplicate', at, alike, false);
        nearWarning = true;
      }
      let chars = 0;
      for (const m of messages) chars += m.content.length;
      if (rejected !== undefined) chars += rejected.length;
      let tokens: number;
      let warned = nearWarning;
      if (opts.tokenizer) {
        try {
          tokens = tokenizeConversation(opts.tokenizer, messages).ids.length;
          if (rejected !== undefined) tokens = Math.max(tokens, tokenizeConversation(opts.tokenizer, [...messages.slice(0, -1), { role: 'assistant', content: rejected }]).ids.length);
        } catch (e) {
          if (isAttuneError(e) && e.code === 'data.template-unstable') problem('data.template-unstable', { ...at, field: e.details.field }, { detail: e.message }, true);
          else problem('data.template-error', at, { detail: (e as Error).message.replace(/\s+/g, ' ').slice(0, 200) }, true);
          continue;
        }
        if (opts.maxLength !== undefined && tokens > opts.maxLength) {
          problem('data.too-long', at, { tokens, maxLength: opts.maxLength }, true);
          continue;
        }
      } else {
        tokens = estimateTokens(chars, messages.length);
        if (opts.maxLength !== undefined && tokens > opts.maxLength) {
          problem('data.maybe-too-long', at, { tokens, maxLength: opts.maxLength }, false);
          warned = true;
        }
      }
      dupes.add(key, row.where);
      report.counts.imported++;
      if (warned) report.counts.warnings++;
      if (messages.filter((m) => m.role === 'assistant').length > 1) report.stats.multiTurn++;
      if (messages[0]!.role === 'system') report.stats.withSystemPrompt++;
      if (rejected !== undefined) report.stats.pairs = (report.stats.pairs ?? 0) + 1;
      tokenLens.push(tokens);
      charLens.push(chars);
      ids.push(id);
      if (sink) {
        const source: Example['source'] = { file: baseName, line: row.line };
        if (row.sheet !== undefined) source.sheet = row.sheet;
        await sink.write(rejected === undefined ? { id, messages, source } : { id, messages, rejected, source });
      }
    }
  } catch (e) {
    if (isAttuneError(e) && e.code.startsWith('data.')) return fatalReport(report, e);
    throw e;
  }
  tell();

  // Said once for the file when most rows are garbled: the cure is to re-save the file, not to fix rows.
  const misdecoded = Object.values(MISDECODING_CODES).reduce((a, code) => a + (report.counts.rejectedBy[code] ?? 0), 0);
  if (misdecoded >= 2 && misdecoded * 2 > report.counts.rowsRead) {
    report.problems.unshift({
      code: 'data.file-misdecoded',
      severity: DIAGNOSTICS['data.file-misdecoded'].severity,
      file,
      line: 0,
      message: formatDiagnostic('data.file-misdecoded', { file, count: misdecoded, rows: report.counts.rowsRead }),
      rejected: false,
    });
    report.problemCounts['data.file-misdecoded'] = 1;
  }

  for (const [code, n] of Object.entries(report.problemCounts)) {
    if (n > maxPerCode) {
      report.problems.push({
        code: 'data.problems-truncated',
        severity: 'info',
        file,
        line: 0,
        message: formatDiagnostic('data.problems-truncated', { count: n - maxPerCode, codeName: code }),
        rejected: false,
      });
    }
  }

  const tl = tokenLens.view();
  report.stats.examples = report.counts.imported;
  report.stats.tokenLengths = lengthStats(tl);
  const val = splitIndices(charLens.view(), ids, { valFraction: report.split.valFraction, seed: report.split.seed });
  report.split.validation = val.length;
  report.split.train = report.counts.imported - val.length;
  let trainTokens = report.stats.tokenLengths.total;
  for (const i of val) trainTokens -= tl[i]!;
  report.training.trainTokens = trainTokens;
  report.estimatedTrainingSeconds = estimateTrainingSeconds(trainTokens, report.training.epochs, report.training.tokensPerSecond);
  return report;
}

/** Reads, validates and measures a file of examples; writes nothing. */
export function checkDataFile(file: string, opts: CheckOptions = {}): Promise<DataReport> {
  return run(file, opts, undefined);
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Like checkDataFile, and writes the imported examples as normalised JSONL (one Example a line)
 * to `opts.out`: into a temporary file beside it, renamed into place at the end, so a failed or
 * interrupted import leaves no half file. Refuses to replace an existing file unless `force`.
 * When nothing is imported, nothing is written (`report.out` is then absent).
 */
export async function importDataFile(file: string, opts: ImportOptions): Promise<DataReport> {
  const out = path.resolve(opts.out);
  if (path.resolve(file) === out) {
    return fatalReport(emptyReport(file, opts), new AttuneError('data.output-is-input', { file }, { file }));
  }
  if (!opts.force && (await exists(out))) {
    return fatalReport(emptyReport(file, opts), new AttuneError('data.output-exists', { file: opts.out }, { file: opts.out }));
  }
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  const ws = createWriteStream(tmp, { encoding: 'utf8' });
  const failed = new Promise<never>((_, reject) => ws.once('error', reject));
  failed.catch(() => undefined);
  const sink: Sink = {
    async write(e) {
      if (!ws.write(JSON.stringify(e) + '\n')) await Promise.race([once(ws, 'drain'), failed]);
    },
  };
  let report: DataReport;
  try {
    report = await run(file, opts, sink);
    ws.end();
    await Promise.race([once(ws, 'finish'), failed]);
  } catch (e) {
    ws.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
  if (report.fatal || report.counts.imported === 0) {
    await rm(tmp, { force: true });
    return report;
  }
  if (!opts.force && (await exists(out))) {
    await rm(tmp, { force: true });
    return fatalReport(report, new AttuneError('data.output-exists', { file: opts.out }, { file: opts.out }));
  }
  await rename(tmp, out);
  report.out = out;
  return report;
}
