/**
 * Types of the data importer: the normalised example, the problems it reports and the report.
 */
import type { ChatMessage } from '../tokenizer/chat-template.js';
import type { DiagnosticCode, Severity } from '../../shared/diagnostics.js';
import type { ModelTokenizer } from '../tokenizer/tokenizer.js';
import type { DataFormat } from '../../shared/formats.js';

export type { ChatMessage };

export { DATA_FORMATS, type DataFormat } from '../../shared/formats.js';

/** Where an example (or a problem) comes from. `line` is 1-based; for tables it is the row number a spreadsheet shows (header = row 1). */
export interface SourceRef {
  file: string;
  line: number;
  sheet?: string;
}

/** One training example, as stored (one JSON object per line) in the project's normalised JSONL. */
export interface Example {
  /** Content hash of the messages (stable across re-imports and row order). */
  id: string;
  messages: ChatMessage[];
  /** A preference pair's rejected answer; `messages` then end with the chosen one. */
  rejected?: string;
  source: SourceRef;
}

export interface Problem {
  code: DiagnosticCode;
  severity: Severity;
  /** The file as the caller named it. */
  file: string;
  /** 1-based line (text formats) or row (tables); 0 for the file as a whole. */
  line: number;
  sheet?: string;
  /** Field, column or message the problem is in, as named in the file (e.g. "output", "Answer", "messages[2]"). */
  field?: string;
  /** The plain-language sentence, rendered from the diagnostics catalogue. */
  message: string;
  /** True when the row was left out because of this problem (exactly one such problem per rejected row). */
  rejected: boolean;
}

/** The fields a table column (or a Q/A block) can be mapped to. */
export interface ColumnMap {
  instruction?: string;
  context?: string;
  response?: string;
  system?: string;
}

export interface Progress {
  bytesRead: number;
  totalBytes: number;
  rowsRead: number;
}

export interface CheckOptions {
  format?: DataFormat | 'auto';
  map?: ColumnMap;
  /** Worksheet to read from an .xlsx (default: the first). */
  sheet?: string;
  /** The chosen model's tokenizer: token counts then use its chat template. Without one, tokens are estimated (characters / 4). */
  tokenizer?: ModelTokenizer;
  /** The context length: examples with more tokens are left out (or warned about when counts are estimated). */
  maxLength?: number;
  /** Validation share for the split (default 0.1). */
  valFraction?: number;
  /** Seed of the split (default 42). */
  seed?: number;
  /** Training-time estimate: epochs (default 3) and tokens per second on this machine (default {@link DEFAULT_TOKENS_PER_SECOND}). */
  epochs?: number;
  tokensPerSecond?: number;
  onProgress?: (p: Progress) => void;
  /** How many problems of each code are listed one by one (all are counted). Default 200. */
  maxProblemsPerCode?: number;
  /**
   * Leave out near duplicates (about 91% alike or more) too. Off by default: people reword a
   * question on purpose, so near duplicates are kept and reported as warnings naming both rows.
   * Exact duplicates are always left out.
   */
  dropNearDuplicates?: boolean;
}

export interface ImportOptions extends CheckOptions {
  out: string;
  /** Replace `out` if it exists. */
  force?: boolean;
}

export interface Histogram {
  /** Bin i counts lengths in [edges[i], edges[i+1]); the last bin includes its upper edge. */
  edges: number[];
  counts: number[];
}

export interface LengthStats {
  min: number;
  p50: number;
  p90: number;
  max: number;
  mean: number;
  total: number;
  histogram: Histogram;
}

export interface DataReport {
  file: string;
  format: DataFormat;
  /** How the format was chosen and read. */
  detected: { format: DataFormat; container: Container; encoding?: string; delimiter?: string; sheet?: string; how: 'auto' | 'chosen' };
  counts: {
    /** Rows (non-blank lines, records, table rows) read from the file. Always imported + rejected. */
    rowsRead: number;
    imported: number;
    /** Left out: the sum of `rejectedBy`. */
    rejected: number;
    /** Rows left out per problem code (each rejected row counted once, under its first problem). */
    rejectedBy: Partial<Record<DiagnosticCode, number>>;
    /** exact + near duplicates found. Exact ones are always in `rejected`; near ones only with `dropNearDuplicates`. */
    duplicates: number;
    exactDuplicates: number;
    /** Near duplicates found: kept with a warning by default, left out with `dropNearDuplicates`. */
    nearDuplicates: number;
    /** Imported rows that carry a warning. */
    warnings: number;
  };
  /** Listed problems (at most maxProblemsPerCode per code); `problemCounts` counts them all. */
  problems: Problem[];
  problemCounts: Partial<Record<DiagnosticCode, number>>;
  stats: {
    examples: number;
    multiTurn: number;
    withSystemPrompt: number;
    /** Examples that are preference pairs (chosen and rejected answers). */
    pairs?: number;
    tokenCounting: 'model' | 'estimate';
    tokenLengths: LengthStats;
  };
  split: { seed: number; valFraction: number; train: number; validation: number; stratifiedBy: 'characters' };
  /** seconds = training tokens × epochs / tokensPerSecond (see estimateTrainingSeconds). */
  estimatedTrainingSeconds: number;
  training: { epochs: number; tokensPerSecond: number; trainTokens: number };
  /** Set by importDataFile: the normalised file written (absent when nothing was imported). */
  out?: string;
  /** True when the file could not be read at all (see the fatal problem). */
  fatal: boolean;
}

export type Container = 'json' | 'jsonl' | 'csv' | 'xlsx' | 'text';

export const DEFAULT_TOKENS_PER_SECOND = 400;
export const DEFAULT_EPOCHS = 3;
export const DEFAULT_VAL_FRACTION = 0.1;
export const DEFAULT_SEED = 42;
