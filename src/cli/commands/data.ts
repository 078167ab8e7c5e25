/**
 * `attune data check <file>` and `attune data import <file> --out <file.jsonl>`.
 *
 * Output goes through the program's configured output (commander's `configureOutput`), so tests
 * can capture it. Exit: 0 when at least one example was imported. Otherwise, in human mode the
 * report is printed and an AttuneError with the plain-language reason is thrown (the CLI edge
 * prints it as one line and exits 1); with --json one JSON object is printed, with `error` set,
 * and the exit code is set to 1.
 */
import { Option, type Command } from 'commander';
import { intArg, numberArg } from '../args.js';
import { DATA_FORMAT_CHOICES } from '../../shared/formats.js';
import { TEMPLATE_NAMES } from '../../shared/templates.js';
import type { CheckOptions, DataReport, ImportOptions, Problem } from '../../engine/data/index.js';
import type { DiagnosticCode } from '../../shared/diagnostics.js';

const FORMATS = DATA_FORMAT_CHOICES;

interface DataFlags {
  format?: (typeof FORMATS)[number];
  map?: string;
  sheet?: string;
  model?: string;
  template?: string;
  maxLength?: number;
  valFraction?: number;
  seed?: number;
  epochs?: number;
  tokensPerSecond?: number;
  json?: boolean;
  out?: string;
  force?: boolean;
  all?: boolean;
  dropNearDuplicates?: boolean;
}

function addCommonOptions(cmd: Command): Command {
  return cmd
    .argument('<file>', 'your examples: JSON/JSONL (Alpaca, Dolly, ShareGPT, OpenAI chat), CSV/TSV, Excel .xlsx, or Q:/A: text')
    .addOption(new Option('--format <format>', 'what kind of file it is').choices([...FORMATS]).default('auto'))
    .option('--map <mapping>', 'which column is which, e.g. instruction="Customer question",response="Approved answer" (also context=, system=)')
    .option('--sheet <name>', 'worksheet to read from an .xlsx (default: the first with data)')
    .option('--model <path>', 'model folder (or .gguf): count tokens with its tokenizer and chat template')
    .option('--template <name>', `chat template to use instead of the model's own: ${TEMPLATE_NAMES.join(', ')}`)
    .option('--max-length <L>', 'longest example in tokens (default: the model\'s context length, at most 4096)', intArg('--max-length', 8))
    .option('--val-fraction <f>', 'share of examples held out for validation', numberArg('--val-fraction', 0, 0.9), 0.1)
    .option('--seed <s>', 'seed of the train/validation split', intArg('--seed', 0), 42)
    .option('--epochs <n>', 'passes over the data, for the time estimate', intArg('--epochs', 1), 3)
    .option('--tokens-per-second <n>', 'training speed of this machine, for the time estimate', numberArg('--tokens-per-second', 1))
    .option('--drop-near-duplicates', 'also leave out examples almost the same as an earlier one (by default they are kept and listed as warnings)')
    .option('--all', 'list every problem, not just the first 20')
    .option('--json', 'print the report as JSON');
}

/** The model's context length from its folder, where it says (config.json, else tokenizer_config.json). */
async function contextLengthOf(dir: string): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises');
  const path = await import('node:path');
  for (const [file, key] of [['config.json', 'max_position_embeddings'], ['tokenizer_config.json', 'model_max_length']] as const) {
    try {
      const v = (JSON.parse(await readFile(path.join(dir, file), 'utf8')) as Record<string, unknown>)[key];
      if (typeof v === 'number' && Number.isFinite(v) && v > 0) return Math.min(v, 4096);
    } catch {
      /* not there */
    }
  }
  return undefined;
}

async function buildOptions(o: DataFlags): Promise<CheckOptions> {
  const { parseColumnMap } = await import('../../engine/data/index.js');
  const opts: CheckOptions = {
    format: o.format ?? 'auto',
    sheet: o.sheet,
    maxLength: o.maxLength,
    valFraction: o.valFraction,
    seed: o.seed,
    epochs: o.epochs,
    tokensPerSecond: o.tokensPerSecond,
    dropNearDuplicates: o.dropNearDuplicates === true,
  };
  if (o.map) opts.map = parseColumnMap(o.map);
  if (o.model) {
    const { stat } = await import('node:fs/promises');
    const isDir = await stat(o.model).then((s) => s.isDirectory(), () => undefined);
    if (isDir === undefined) {
      const { AttuneError } = await import('../../shared/errors.js');
      throw new AttuneError('cli.model-not-found', { path: o.model }, { file: o.model });
    }
    if (isDir) {
      const { ModelTokenizer } = await import('../../engine/tokenizer/index.js');
      opts.tokenizer = await ModelTokenizer.fromFolder(o.model, { template: o.template });
      opts.maxLength ??= await contextLengthOf(o.model);
    } else {
      const { loadModel } = await import('../../engine/index.js');
      const model = await loadModel(o.model, { template: o.template });
      opts.tokenizer = model.tokenizer;
      opts.maxLength ??= Math.min(model.config.maxPositions, 4096);
    }
  }
  return opts;
}

function progressPrinter(write: (s: string) => void): CheckOptions['onProgress'] {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 200 && p.bytesRead < p.totalBytes) return;
    last = now;
    const pct = p.totalBytes ? Math.floor((100 * p.bytesRead) / p.totalBytes) : 0;
    write(`\rReading… ${pct}% (${p.rowsRead.toLocaleString('en-GB')} rows)`);
  };
}

function duration(seconds: number): string {
  if (seconds < 1.5) return 'about a second';
  if (seconds < 90) return `about ${Math.round(seconds)} seconds`;
  if (seconds < 90 * 60) return `about ${Math.round(seconds / 60)} minutes`;
  const h = seconds / 3600;
  return `about ${h < 10 ? h.toFixed(1) : Math.round(h)} hours`;
}

const n = (x: number) => x.toLocaleString('en-GB');

/** The report as a person reads it. */
export function formatReport(r: DataReport, opts: { all?: boolean } = {}): string {
  const lines: string[] = [];
  const FORMAT_LABEL = { alpaca: 'Alpaca', dolly: 'Dolly', sharegpt: 'ShareGPT', openai: 'OpenAI chat', qa: 'question/answer pairs', csv: 'table', xlsx: 'Excel workbook', preference: 'preference pairs' };
  const DELIMS: Record<string, string> = { ',': 'comma', ';': 'semicolon', '\t': 'tab', '|': 'vertical bar' };
  const d = r.detected;
  const how = [
    d.container === 'json' || d.container === 'jsonl' ? d.container.toUpperCase() : d.container === 'text' ? 'Q:/A: text' : undefined,
    d.delimiter ? `${DELIMS[d.delimiter] ?? `"${d.delimiter}"`}-separated` : undefined,
    d.encoding,
  ].filter(Boolean).join(', ');
  lines.push(`${r.file}`);
  if (!r.fatal) {
    lines.push(`  Read as:        ${FORMAT_LABEL[r.format]}${how ? ` (${how})` : ''}${d.how === 'chosen' ? ', as you chose' : ''}`);
    const c = r.counts;
    lines.push(`  Rows read:      ${n(c.rowsRead)}`);
    lines.push(`  Imported:       ${n(c.imported)}${r.stats.pairs ? ` (${n(r.stats.pairs)} preference pairs: a chosen and a rejected answer each)` : ''}`);
    const parts: string[] = [];
    const nearDropped = c.rejectedBy['data.near-duplicate-dropped'] ?? 0;
    if (c.exactDuplicates) parts.push(`${n(c.exactDuplicates)} exact duplicates`);
    if (nearDropped) parts.push(`${n(nearDropped)} near duplicates`);
    const other = c.rejected - c.exactDuplicates - nearDropped;
    if (other) parts.push(`${n(other)} with problems`);
    lines.push(`  Left out:       ${n(c.rejected)}${parts.length ? ` (${parts.join(', ')})` : ''}`);
    const nearKept = c.nearDuplicates - nearDropped;
    if (nearKept) lines.push(`  Near duplicates: ${n(nearKept)} kept (almost the same as an earlier example; see the warnings, or use --drop-near-duplicates)`);
    if (c.imported > 0) {
      const t = r.stats.tokenLengths;
      const counted = r.stats.tokenCounting === 'model' ? 'counted with the model\'s tokenizer' : 'estimated; choose a model (--model) for exact counts';
      lines.push(`  Length:         shortest ${n(t.min)}, typical ${n(t.p50)}, 90% under ${n(t.p90)}, longest ${n(t.max)} tokens (${counted})`);
      const maxCount = Math.max(...t.histogram.counts, 1);
      for (let i = 0; i < t.histogram.counts.length; i++) {
        const cnt = t.histogram.counts[i]!;
        const bar = '█'.repeat(Math.round((cnt / maxCount) * 30));
        lines.push(`    ${String(t.histogram.edges[i]).padStart(6)}–${String(t.histogram.edges[i + 1]! - 1).padEnd(6)} ${bar} ${cnt ? n(cnt) : ''}`.trimEnd());
      }
      if (r.stats.multiTurn) lines.push(`  Conversations:  ${n(r.stats.multiTurn)} with several turns`);
      if (r.stats.withSystemPrompt) lines.push(`  System prompt:  ${n(r.stats.withSystemPrompt)} examples have one`);
      lines.push(`  Split:          ${n(r.split.train)} for training, ${n(r.split.validation)} held out to check progress (seed ${r.split.seed})`);
      lines.push(`  Training time:  ${duration(r.estimatedTrainingSeconds)} for ${r.training.epochs} passes at ${n(r.training.tokensPerSecond)} tokens a second (an estimate)`);
    }
    if (r.out) lines.push(`  Written to:     ${r.out}`);
  }
  const listed = r.problems.filter((p) => p.code !== 'data.problems-truncated');
  if (listed.length) {
    const limit = opts.all ? Infinity : 20;
    lines.push('', r.fatal ? 'Problem:' : 'Problems:');
    for (const p of listed.slice(0, limit)) lines.push(`  ${marker(p)} ${p.message}`);
    const total = Object.values(r.problemCounts).reduce((a, b) => a + (b ?? 0), 0);
    const shown = Math.min(listed.length, limit);
    if (total > shown) lines.push(`  … and ${n(total - shown)} more (--all or --json lists them).`);
  }
  return lines.join('\n') + '\n';
}

function marker(p: Problem): string {
  return p.severity === 'fatal' || p.severity === 'error' ? '✗' : p.severity === 'warning' ? '!' : '·';
}

async function runDataCommand(cmd: Command, file: string, o: DataFlags, mode: 'check' | 'import'): Promise<void> {
  const out = cmd.configureOutput();
  const writeOut = (s: string) => (out.writeOut ?? ((x: string) => process.stdout.write(x)))(s);
  const writeErr = (s: string) => (out.writeErr ?? ((x: string) => process.stderr.write(x)))(s);
  const { checkDataFile, importDataFile } = await import('../../engine/data/index.js');
  const { AttuneError } = await import('../../shared/errors.js');
  const { formatDiagnostic } = await import('../../shared/diagnostics.js');
  const opts = await buildOptions(o);
  if (!o.json) opts.onProgress = progressPrinter(writeErr);
  const report = mode === 'import' ? await importDataFile(file, { ...opts, out: o.out!, force: o.force } satisfies ImportOptions) : await checkDataFile(file, opts);
  if (opts.onProgress) writeErr('\r\x1b[K');
  let error: { code: DiagnosticCode; message: string } | undefined;
  if (report.fatal) {
    const p = report.problems.find((x) => x.severity === 'fatal')!;
    error = { code: p.code, message: p.message };
  } else if (report.counts.imported === 0) {
    const top = Object.entries(report.counts.rejectedBy).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))[0];
    const first = top ? report.problems.find((p) => p.code === top[0]) : undefined;
    const detail =
      report.counts.rowsRead === 0
        ? 'the file has no examples in it.'
        : `all ${n(report.counts.rowsRead)} rows have problems${first ? `; the most common: ${first.message}` : '.'}`;
    error = { code: 'data.no-examples', message: formatDiagnostic('data.no-examples', { file, detail }) };
  }
  if (o.json) {
    writeOut(JSON.stringify(error ? { ...report, error } : report) + '\n');
    if (error) process.exitCode = 1;
    return;
  }
  if (!report.fatal) writeOut(formatReport(report, { all: o.all }));
  if (error) throw AttuneError.rendered(error.code, error.message, { file });
}

export function registerDataCommands(program: Command): void {
  const data = program.command('data').description('Check and import your examples (spreadsheets, JSON, CSV, ...)');
  addCommonOptions(data.command('check').description('Read a file of examples and report what would be imported and every problem found')).action(
    async function (this: Command, file: string, o: DataFlags) {
      await runDataCommand(this, file, o, 'check');
    },
  );
  addCommonOptions(data.command('import').description('Import a file of examples as clean conversations (normalised JSONL); the original is not changed'))
    .requiredOption('--out <file.jsonl>', 'where to write the imported examples')
    .option('--force', 'replace --out if it exists')
    .action(async function (this: Command, file: string, o: DataFlags) {
      await runDataCommand(this, file, o, 'import');
    });
}
