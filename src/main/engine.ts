/**
 * What the main process needs from the engine, in the contract's terms. `engine-facade.ts`
 * implements it over `src/engine/index.ts`; handlers depend only on this interface, so they carry
 * no engine or Electron import and run under plain Node.
 */
import type { Example as EngineExample } from '../engine/index.js';
import type { DataReport, DeviceInfo, Device, Example, ExportFormat, GenerateResult, LengthCheck, ModelInfo, Sampling, Advanced, ReviewReport, TuneEvent, TuneOutcome } from '../shared/contract.js';

export interface DataOptions {
  format?: string;
  map?: { prompt?: string; response?: string; system?: string };
  maxLength?: number;
  /** A model folder whose tokenizer counts tokens, when one is chosen. */
  tokenizerModel?: string;
  /** Leave out near duplicates too (by default they are kept, with a warning). */
  dropNearDuplicates?: boolean;
  onProgress?: (p: { rowsRead: number; fraction?: number }) => void;
}

/** An example as stored in the project's JSONL (with the engine's id and where it came from). */
export type StoredExample = EngineExample;

export interface ChatHandle {
  generate(
    messages: Example['messages'],
    sampling: Sampling & { loraScale: number },
    opts: { onToken: (delta: string) => void; signal: AbortSignal },
  ): Promise<Omit<GenerateResult, 'stopped'>>;
  close(): Promise<void>;
}

/** The serializable description of a tuning run that the worker process receives. */
export interface TuneJobSpec {
  modelPath: string;
  /** The project's normalised examples; the engine splits them with `valFraction` and the seed, as the app shows them. */
  dataFile: string;
  valFraction: number;
  runDir: string;
  settings: Advanced;
  /** A named chat template: the person's choice, or the fallback for models without their own (absent = the model's own). */
  template?: string;
  /** The validation interval resolved from the data size (settings.evalEvery 0 = automatic). */
  evalEvery?: number;
  /** Present when continuing from the run's last checkpoint. */
  resume?: boolean;
  /** "Teach it again": start from this adapter (its rank and alpha), with these engine settings. */
  continueFrom?: { initAdapter: string; alpha?: number; warmupSteps?: number };
}

export interface EngineFacade {
  checkData(file: string, opts: DataOptions): Promise<DataReport>;
  /** Imports `file` into the normalised JSONL `out` (replacing it) and counts the split. */
  importData(file: string, opts: DataOptions & { out: string; valFraction: number; seed: number }): Promise<{ report: DataReport; train: number; val: number }>;
  readExamples(file: string): Promise<StoredExample[]>;
  /** The same seeded split the engine's tuning uses. */
  splitExamples(examples: StoredExample[], opts: { valFraction: number; seed: number }): { train: StoredExample[]; validation: StoredExample[] };
  writeExamples(file: string, examples: StoredExample[]): Promise<void>;
  /** Removes the engine's cached copy of the data a run folder was prepared from. */
  forgetRunData(runDir: string): Promise<void>;
  inspectModel(modelPath: string): Promise<Omit<ModelInfo, 'path' | 'name' | 'origin' | 'kind' | 'fit'>>;
  devices(preferred: Device): Promise<DeviceInfo>;
  openChat(opts: { modelPath: string; adapterDir?: string; device?: Device }): Promise<ChatHandle>;
  exportModel(
    opts: { modelPath: string; adapterDir: string; format: ExportFormat; out: string; overwrite: boolean },
    onProgress: (p: { fraction: number; stage: string }) => void,
  ): Promise<{ files: { name: string; bytes: number }[]; warnings: string[] }>;
  /** The engine's named chat templates. */
  templateNames(): string[];
  /** Counts examples of a normalised file by length with the model's tokenizer (and template). */
  checkLengths(file: string, opts: { modelPath: string; template?: string; maxLength: number }): Promise<LengthCheck>;
  /** The held-out review of an adapter (the engine's reviewAdapter). */
  review(opts: { modelPath: string; adapterDir: string; n: number; maxTokens: number; onProgress: (done: number, total: number) => void }): Promise<Omit<ReviewReport, 'runId'>>;
  /** Starts the OpenAI-compatible server on 127.0.0.1. */
  serve(opts: { modelPath: string; adapterDir: string; port?: number; device?: Device; modelId?: string }): Promise<{ url: string; port: number; modelId: string; close(): Promise<void> }>;
}

/** What the worker process runs; implemented over the engine's `runTuning`. */
export type TuneFn = (spec: TuneJobSpec, opts: { onEvent: (e: TuneEvent) => void; signal: AbortSignal }) => Promise<TuneOutcome>;
