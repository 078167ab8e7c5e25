/**
 * The IPC contract: one map of calls (zod request schema + response type) and one map of event
 * streams (payload type). Main registers a handler for every call from `calls`, the preload builds
 * one verb per call from the same map (`attune.data.check(req)`), and events become typed
 * subscriptions (`attune.tune.onProgress(cb) -> unsubscribe`).
 *
 * Runs in every process: no Node, DOM or Electron imports here.
 */
import { z } from 'zod';
import { CLI_ONLY_EXPORT_FORMATS, DATA_FORMAT_CHOICES, EXPORT_FORMATS, type AppExportFormat } from './formats.js';
import type { ExamplePlace, LengthCheck, ReviewReport as EngineReviewReport, ReviewSample as EngineReviewSample } from './engine-results.js';
export type { LengthCheck };
import { SETTINGS, withCurrentNames } from './tune-settings.js';
import type { HubPullEvent, SourceModel } from './hub.js';

// ---------------------------------------------------------------------------------------------
// Building blocks

/** A phantom marker that carries a response (or event payload) type without a runtime schema. */
export interface Shape<T> {
  readonly __shape?: T;
}
const shape = <T>(): Shape<T> => ({});

interface CallSpec<Req extends z.ZodType, Res> {
  request: Req;
  response: Shape<Res>;
}
const call = <Req extends z.ZodType, Res>(request: Req, _response: Shape<Res>): CallSpec<Req, Res> => ({
  request,
  response: _response,
});

/** Names a person gives a project: letters, digits, spaces, dot, dash and underscore. */
export const projectName = z
  .string()
  .trim()
  .min(1, 'Give the project a name.')
  .max(64, 'Use a name of at most 64 characters.')
  .regex(/^[\p{L}\p{N}][\p{L}\p{N} ._'’-]*$/u, 'Use letters, digits, spaces, apostrophes, dots, dashes or underscores, starting with a letter or digit');

/** Ids minted by main (runs, jobs, sessions, streams, staged files): no path separators. */
const id = z.string().min(1).max(128).regex(/^[A-Za-z0-9._-]+$/, 'Not a valid id.').refine((s) => s !== '.' && s !== '..', 'Not a valid id.');

const empty = z.object({}).strict();

// ---------------------------------------------------------------------------------------------
// Shared value types (responses and payloads)

export type Theme = 'system' | 'light' | 'dark';

/** The measured time for one pass over the data (engine estimateTuneTime). */
export interface PassEstimate {
  secondsPerStep: number;
  stepsPerEpoch: number;
  trainExamples: number;
  epochSeconds: number;
  epochs: number;
  totalSeconds: number;
  device: string;
}

export interface Settings {
  workspace: string;
  theme: Theme;
  /** Most recent first, project names in the workspace. */
  recentProjects: string[];
  /** Models added from outside the workspace (a folder or a GGUF file). */
  addedModels: { path: string; kind: 'folder' | 'gguf' }[];
  /** Preferred device for tuning and chat; 'auto' lets the engine choose. */
  device: Device;
  /** Set once the first run has chosen the projects folder. */
  firstRunDone?: boolean;
  /** Where models are downloaded from (a mirror or proxy of the Hub); empty = HF_ENDPOINT, else the Hub. */
  hubEndpoint?: string;
}

/** What the first run shows: where projects could go, and the bundled sample. */
export interface FirstRunStatus {
  /** True when nothing shows that Attune was used here before. */
  needed: boolean;
  /** Documents/Attune. */
  suggestedFolder: string;
  /** The folder picked in main's dialog, if any. */
  chosenFolder?: string;
  /** The workspace setting now. */
  currentFolder: string;
  /** The bundled sample: its size and a few examples (absent when the installation lacks it). */
  sample?: { file: string; examples: number; preview: { question: string; answer: string }[] };
}

export const device = SETTINGS.device.schema.unwrap();
export type Device = z.infer<typeof device>;

export interface AppInfo {
  version: string;
  platform: string;
  settings: Settings;
  machine: { totalMemoryBytes: number; freeMemoryBytes: number; cpus: number };
}

export interface ProjectSummary {
  name: string;
  /** Counts after the last import, if any. */
  data?: { train: number; val: number; source: string };
  runs: number;
  updatedAt: string;
}

export interface StagedFile {
  /** File name inside the project's data/original folder (the person's file, untouched). */
  source: string;
  bytes: number;
}

export type ProblemSeverity = 'fatal' | 'error' | 'warning';
export interface DataProblem {
  /** Stable catalogue code (src/shared/diagnostics.ts). */
  code: string;
  severity: ProblemSeverity;
  /** True when the row was left out because of this problem. */
  rejected: boolean;
  message: string;
  line?: number;
  field?: string;
  /** The raw text of the row, where the file is line-based, so a person can fix it in place. */
  rowText?: string;
  /** The row as its named fields (a JSONL object's, or a CSV row's under its header), with needed ones it lacks added empty. */
  rowFields?: RowField[];
}

/** One field of a row, by the name the person's file gives it. */
export interface RowField {
  name: string;
  value: string;
  /** The format needs this field to hold text (an empty one is why the row was left out). */
  needed?: boolean;
}

export interface Example {
  /** Chat messages in order; the last assistant turn is what the model learns to say. */
  messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
}

export interface DataReport {
  source: string;
  format: string;
  rowsRead: number;
  accepted: number;
  rejected: number;
  duplicates: number;
  /** True when the file could not be read at all. */
  fatal: boolean;
  problems: DataProblem[];
  /** Token counts; `estimated` when no model tokenizer was used (characters / 4). */
  tokens?: { total: number; longest: number; estimated: boolean };
  /** A first guess of how long training takes on this machine. */
  estimatedTrainingSeconds?: number;
}

export interface ImportResult {
  report: DataReport;
  train: number;
  val: number;
}

export interface ExamplesPage {
  split: 'train' | 'val';
  total: number;
  offset: number;
  /** Each with its number in the split (1-based; with a search, the numbers skip) and the row of the person's file it came from. */
  examples: (Example & { number?: number; row?: number })[];
}

export interface ModelInfo {
  /** Absolute path to the folder or GGUF file. */
  path: string;
  name: string;
  origin: 'workspace' | 'added';
  kind: 'folder' | 'gguf';
  architecture?: string;
  parameters?: number;
  dtype?: string;
  contextLength?: number;
  vocabSize?: number;
  hasChatTemplate?: boolean;
  fileBytes?: number;
  memory?: { inferenceBytes: number; tuningBytes: number };
  /** Whether tuning fits this machine, in plain words. */
  fit?: { verdict: 'fits' | 'tight' | 'too-big'; explanation: string };
  /** Tokens that end an answer (the model's stop tokens), as text. */
  stopTokens?: string[];
  /**
   * Special tokens the chat template uses whose rows the base model never trained (for example
   * `</s>` in stories260K): LoRA alone cannot teach them, so tuning trains those rows too.
   */
  untrainedTokens?: UntrainedToken[];
  /** Present when the model could not be read. */
  problem?: string;
}

export interface UntrainedToken {
  id: number;
  token: string;
  /** How the row gives itself away: all zeros, an odd length, or identical to other untrained rows. */
  reason: 'zero' | 'norm' | 'clump';
  table: 'embedding' | 'head';
}

export interface DeviceInfo {
  /** gflops: measured F32 matrix-multiply speed of a working provider. */
  available: { device: Exclude<Device, 'auto'>; label: string; ok: boolean; reason?: string; gflops?: number }[];
  chosen: Exclude<Device, 'auto'>;
  why: string;
}

export type RunState = 'queued' | 'running' | 'pausing' | 'paused' | 'cancelling' | 'cancelled' | 'done' | 'failed' | 'crashed';
/** Why a worker process ended (stored on the run and shown in the UI). */
export type ExitReason = 'done' | 'cancelled' | 'paused' | 'failed' | 'crashed' | 'killed';

export interface RunSummary {
  runId: string;
  project: string;
  modelPath: string;
  preset: PresetName;
  state: RunState;
  exitReason?: ExitReason;
  message?: string;
  startedAt: string;
  endedAt?: string;
  /** Last known progress. */
  step?: number;
  totalSteps?: number;
  bestStep?: number | null;
  /** The held-out loss of the kept step. */
  bestValLoss?: number | null;
  /** Why training ended (set when the run finished). */
  stoppedBecause?: StopReason;
  /** Validation and early stopping as this run used them (resolved from the data size). */
  validation?: { evalEvery: number; patience: number | null };
  /** Chat template the run formats conversations with: 'model' (its own) or a named one. */
  template?: string;
  /** Untrained special tokens this run also teaches. */
  trainedTokens?: string[];
  adapterDir?: string;
  /** "Teach it again": the run whose adapter this run continued, on the project's corrections. */
  continues?: string;
  /** Whether a checkpoint exists to resume from. */
  resumable: boolean;
  device?: string;
  deviceWhy?: string;
  jobId?: string;
  /** The examples this run was tuned on, as the project held them when it started (the run keeps its own copy). */
  data?: { source: string; train: number; val: number; importedAt?: string };
}

/** Why a run's training ended: all its steps, its step limit, early stopping, or a person's cancel. */
export type StopReason = 'finished' | 'max-steps' | 'early-stopping' | 'cancelled';

export type TuneEvent =
  | { type: 'start'; totalSteps: number; trainExamples: number; valExamples: number; resumedFromStep: number }
  | { type: 'step'; step: number; totalSteps: number; epoch: number; loss: number; lr: number; tokensPerSecond: number; etaSeconds: number; rewards?: Rewards }
  | { type: 'eval'; step: number; valLoss: number; best: boolean }
  | { type: 'checkpoint'; step: number; path: string }
  | { type: 'device'; device: string; why: string }
  | { type: 'tokens'; tokens: string[] }
  | { type: 'done'; step: number; adapterDir: string; bestStep: number | null; bestValLoss: number | null; stoppedBecause: StopReason };

/** Tuning's outcome as the worker reports it. */
export interface TuneOutcome {
  adapterDir: string;
  bestStep: number | null;
  bestValLoss: number | null;
  stoppedBecause: StopReason;
}

/** One held-out question: the engine's sample, with the question and system text as plain text. */
export interface ReviewSample extends Omit<EngineReviewSample, 'prompt'> {
  /** The question (the last user message). */
  prompt: string;
  system?: string;
}

export interface ReviewReport extends Omit<EngineReviewReport, 'samples'> {
  runId: string;
  samples: ReviewSample[];
}

export interface ServerInfo {
  project: string;
  runId: string;
  url: string;
  port: number;
  modelId: string;
}

/** Preference tuning's rewards of one step (DPO: beta x the log-ratio to the reference; ORPO: the log-odds), means over its pairs. */
export interface Rewards {
  chosen: number;
  rejected: number;
  /** chosen - rejected. */
  margin: number;
  /** The share of pairs whose chosen answer has the higher reward (0 to 1). */
  accuracy: number;
}

export interface MetricsPoint {
  step: number;
  loss?: number;
  valLoss?: number;
  tokensPerSecond?: number;
  /** Preference tuning (dpo, orpo) only. */
  rewardsChosen?: number;
  rewardsRejected?: number;
  rewardMargin?: number;
  rewardAccuracy?: number;
}

/** Where a rated or corrected answer came from. */
export interface AnswerProvenance {
  /** The run whose adapter answered (absent for the original model without a run). */
  runId?: string;
  adapter?: string;
  which: 'tuned' | 'base';
  /** ISO date. */
  date: string;
}

/** A corrected answer, saved both as an instruction example and as a preference pair. */
export interface CorrectionInfo {
  id: string;
  prompt: Example['messages'];
  /** The model's answer (rejected). */
  answer: string;
  /** The person's answer (chosen). */
  corrected: string;
  provenance: AnswerProvenance;
}

export interface CorrectionsInfo {
  corrections: CorrectionInfo[];
  ratings: { up: number; down: number };
}

/** One prompt answered before and after "teach it again". */
export interface BeforeAfterRow {
  kind: 'correction' | 'held-out';
  /** The question (the last user message). */
  prompt: string;
  /** The correction, or the held-out example's own answer. */
  expected: string;
  /** For a correction: the answer the person rejected. */
  rejected?: string;
  before: string;
  after: string;
  rightBefore: boolean;
  rightAfter: boolean;
}

export interface TeachAgainReport {
  /** The teach-again run and the run it continued. */
  runId: string;
  fromRunId: string;
  rows: BeforeAfterRow[];
  corrections: { total: number; rightBefore: number; rightAfter: number };
  heldOut: { total: number; rightBefore: number; rightAfter: number };
}

export interface GenerateResult {
  text: string;
  tokens: number;
  promptTokens: number;
  tokensPerSecond: number;
  stopped: boolean;
}

/** The export formats the app offers. */
export type ExportFormat = AppExportFormat;
const exportFormat = z.enum(EXPORT_FORMATS).exclude(CLI_ONLY_EXPORT_FORMATS);
export interface ExportChoice {
  format: ExportFormat;
  title: string;
  explanation: string;
}
export interface ExportResult {
  format: ExportFormat;
  out: string;
  files: { name: string; bytes: number }[];
  warnings: string[];
}

export interface AppError {
  code: string;
  message: string;
  details?: { file?: string; line?: number; field?: string };
}

// ---------------------------------------------------------------------------------------------
// Presets

export const presetName = z.enum(['quick', 'balanced', 'thorough']);
export type PresetName = z.infer<typeof presetName>;

/** The tuning settings the app offers, from the one settings table (src/shared/tune-settings.ts). */
export const advanced = z
  .object({
    rank: SETTINGS.rank.schema.unwrap(),
    learningRate: SETTINGS.learningRate.schema.unwrap(),
    epochs: SETTINGS.epochs.schema.unwrap(),
    batchSize: SETTINGS.batchSize.schema.unwrap(),
    maxLength: SETTINGS.maxLength.schema.unwrap(),
    seed: SETTINGS.seed.schema.unwrap(),
    device: SETTINGS.device.schema.unwrap(),
    /** 'model' (the model's own) or a named template of the engine; main checks the name. */
    template: SETTINGS.template.schema.unwrap(),
    /** The app offers auto or none (the CLI also takes token ids). */
    trainTokens: z.enum(['auto', 'none'], { error: 'Choose auto or none.' }),
    earlyStopping: SETTINGS.earlyStopping.schema.unwrap(),
    /** 0 = chosen from the data size (about 10 checks a run); main resolves it before the engine sees it. */
    evalEvery: SETTINGS.evalEvery.schema.unwrap(),
    patience: SETTINGS.patience.schema.unwrap(),
    baseStorage: SETTINGS.baseStorage.schema.unwrap(),
    recomputeActivations: SETTINGS.recomputeActivations.schema.unwrap(),
    /** sft (instruction tuning) or preference tuning (dpo, orpo) on preference pairs. */
    method: SETTINGS.method.schema.unwrap(),
    /** Used only by dpo and orpo (absent = the engine's default). */
    beta: SETTINGS.beta.schema,
    /** Used only by dpo (absent = off). */
    rpoAlpha: SETTINGS.rpoAlpha.schema,
  })
  .strict();
export type Advanced = z.infer<typeof advanced>;
/** Changes to a preset's settings; older names of the settings are read too. */
const advancedChanges = z.preprocess(withCurrentNames, advanced.partial().strict());

// ---------------------------------------------------------------------------------------------
// Requests

/** The engine's formats (DATA_FORMATS) or 'auto' to detect. */
const dataFormat = z.enum(DATA_FORMAT_CHOICES);
/** Column mapping for table-shaped files: which column holds the prompt, the answer, the system text. */
const columnMap = z.object({ prompt: z.string().max(200).optional(), response: z.string().max(200).optional(), system: z.string().max(200).optional() }).strict();

const chatMessage = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string().max(200_000) }).strict();
const example = z.object({ messages: z.array(chatMessage).min(1).max(200) }).strict();

export const sampling = z
  .object({
    maxTokens: z.number().int().min(1).max(4096),
    temperature: z.number().min(0).max(5),
    topP: z.number().gt(0).max(1),
    topK: z.number().int().min(0).max(1000),
    seed: z.number().int().min(0).max(2 ** 31 - 1),
  })
  .strict();
export type Sampling = z.infer<typeof sampling>;

/** 20 MB of base64 is the most a dropped file may carry over IPC. */
const MAX_UPLOAD_BASE64 = 28_000_000;

// ---------------------------------------------------------------------------------------------
// The channel map

export const calls = {
  'app.info': call(empty, shape<AppInfo>()),

  'settings.get': call(empty, shape<Settings>()),
  'settings.update': call(
    z.object({ theme: z.enum(['system', 'light', 'dark']).optional(), device: device.optional(), hubEndpoint: z.string().max(2000).optional() }).strict(),
    shape<Settings>(),
  ),
  /** Opens a folder dialog; null when the person cancels. */
  'settings.chooseWorkspace': call(empty, shape<Settings | null>()),

  /** The first run (src/main/services/first-run.ts): the welcome screen. */
  'welcome.status': call(empty, shape<FirstRunStatus>()),
  /** Opens a folder dialog; null when the person cancels. */
  'welcome.chooseFolder': call(empty, shape<string | null>()),
  /** Makes the suggested (Documents/Attune) or the chosen folder the workspace. */
  'welcome.finish': call(z.object({ folder: z.enum(['suggested', 'chosen']) }).strict(), shape<Settings>()),

  'projects.list': call(empty, shape<ProjectSummary[]>()),
  'projects.create': call(z.object({ name: projectName }).strict(), shape<ProjectSummary>()),
  'projects.open': call(z.object({ name: projectName }).strict(), shape<ProjectSummary>()),

  /** Copies the person's file into the project untouched: from a dialog, dropped bytes, or the bundled sample. */
  'data.add': call(
    z
      .object({
        project: projectName,
        from: z.discriminatedUnion('kind', [
          z.object({ kind: z.literal('dialog') }).strict(),
          z.object({ kind: z.literal('sample') }).strict(),
          z
            .object({
              kind: z.literal('bytes'),
              name: z.string().min(1).max(200),
              base64: z.string().max(MAX_UPLOAD_BASE64),
            })
            .strict(),
        ]),
      })
      .strict(),
    shape<StagedFile | null>(),
  ),
  'data.check': call(
    z.object({ project: projectName, source: id, format: dataFormat.optional(), map: columnMap.optional(), maxLength: SETTINGS.maxLength.schema.unwrap().optional() }).strict(),
    shape<DataReport>(),
  ),
  /** Replaces one line of the working copy (line-based files only), so a person can fix a rejected row. */
  'data.fixRow': call(z.object({ project: projectName, source: id, line: z.number().int().min(1), text: z.string().max(1_000_000) }).strict(), shape<DataReport>()),
  /** Replaces one row from its edited fields, written back in the file's own syntax, and checks the file again. */
  'data.fixRowFields': call(
    z
      .object({
        project: projectName,
        source: id,
        line: z.number().int().min(1),
        fields: z.array(z.object({ name: z.string().min(1).max(200), value: z.string().max(1_000_000), needed: z.boolean().optional() }).strict()).min(1).max(100),
      })
      .strict(),
    shape<DataReport>(),
  ),
  'data.import': call(
    z
      .object({
        project: projectName,
        source: id,
        format: dataFormat.optional(),
        map: columnMap.optional(),
        maxLength: SETTINGS.maxLength.schema.unwrap().optional(),
        valFraction: z.number().min(0).max(0.5),
        seed: z.number().int().min(0).max(2 ** 31 - 1),
        /** Leave out near duplicates too (by default they are kept, with a warning naming both rows). */
        dropNearDuplicates: z.boolean().optional(),
        /** The person confirmed replacing the examples while a tune of this project runs (it keeps its own copy). */
        replaceWhileTuning: z.boolean().optional(),
      })
      .strict(),
    shape<ImportResult>(),
  ),
  'data.examples': call(
    z
      .object({
        project: projectName,
        split: z.enum(['train', 'val']),
        offset: z.number().int().min(0),
        limit: z.number().int().min(1).max(500),
        /** Only examples whose text contains this (any case). */
        query: z.string().max(500).optional(),
      })
      .strict(),
    shape<ExamplesPage>(),
  ),
  /** Where the example read from a row of the person's file is in the lists (null when that row was not imported). */
  'data.locateRow': call(z.object({ project: projectName, row: z.number().int().min(1) }).strict(), shape<ExamplePlace | null>()),
  'data.saveExample': call(
    z.object({ project: projectName, split: z.enum(['train', 'val']), index: z.number().int().min(0), example: example.nullable() }).strict(),
    shape<ExamplesPage>(),
  ),
  /** Puts back the example removed last (Undo). */
  'data.undoRemove': call(z.object({ project: projectName }).strict(), shape<{ restored: boolean }>()),

  'models.list': call(empty, shape<ModelInfo[]>()),
  /** Opens a dialog for a model folder or a GGUF file; null when the person cancels. */
  'models.add': call(z.object({ kind: z.enum(['folder', 'gguf']) }).strict(), shape<ModelInfo | null>()),
  /** Takes a model the person added off the list (its files stay where they are). */
  'models.remove': call(z.object({ path: z.string().min(1).max(4096) }).strict(), shape<{ removed: boolean }>()),
  'models.inspect': call(z.object({ path: z.string().min(1).max(4096) }).strict(), shape<ModelInfo>()),
  'models.devices': call(empty, shape<DeviceInfo>()),
  // Model sources (src/main/services/hub.ts): the catalog, models other tools downloaded, Hub downloads.
  'hub.list': call(empty, shape<SourceModel[]>()),
  'hub.pull': call(z.object({ repo: z.string().min(3).max(200), revision: z.string().min(1).max(200).optional() }).strict(), shape<{ pullId: string }>()),
  'hub.cancel': call(z.object({ pullId: id }).strict(), shape<{ cancelled: boolean }>()),
  // The token itself only ever travels to main, never back.
  'hub.tokenStatus': call(empty, shape<{ hasToken: boolean; fromEnvironment: boolean }>()),
  'hub.setToken': call(z.object({ token: z.string().min(1).max(400) }).strict(), shape<{ hasToken: boolean; fromEnvironment: boolean }>()),
  'hub.clearToken': call(empty, shape<{ hasToken: boolean; fromEnvironment: boolean }>()),

  'tune.start': call(
    z.object({ project: projectName, modelPath: z.string().min(1).max(4096), preset: presetName, advanced: advancedChanges.optional() }).strict(),
    shape<RunSummary>(),
  ),
  /** Measures on this computer how long one pass over the data takes (a few real steps in a worker process; cached while the data is unchanged). */
  'tune.estimate': call(
    z.object({ project: projectName, modelPath: z.string().min(1).max(4096), preset: presetName, advanced: advancedChanges.optional() }).strict(),
    shape<PassEstimate>(),
  ),
  'tune.estimateCancel': call(z.object({ project: projectName }).strict(), shape<{ cancelled: boolean }>()),
  /** Re-checks the imported examples with this model's tokenizer, template and max length. */
  'tune.check': call(
    z.object({ project: projectName, modelPath: z.string().min(1).max(4096), maxLength: SETTINGS.maxLength.schema.unwrap(), template: advanced.shape.template.optional() }).strict(),
    shape<LengthCheck>(),
  ),
  /** The engine's named chat templates (a model's own is 'model'). */
  'tune.templates': call(empty, shape<string[]>()),
  'tune.pause': call(z.object({ project: projectName, runId: id }).strict(), shape<RunSummary>()),
  'tune.resume': call(z.object({ project: projectName, runId: id }).strict(), shape<RunSummary>()),
  'tune.cancel': call(z.object({ project: projectName, runId: id }).strict(), shape<RunSummary>()),
  'tune.runs': call(z.object({ project: projectName }).strict(), shape<RunSummary[]>()),
  'tune.metrics': call(z.object({ project: projectName, runId: id }).strict(), shape<MetricsPoint[]>()),
  /** Removes a run that is not training (its folder, adapter and checkpoint). */
  'tune.discard': call(z.object({ project: projectName, runId: id }).strict(), shape<{ discarded: true }>()),
  /** A run's held-out examples, from the data it was tuned on (not the project's current file). */
  'tune.heldOut': call(z.object({ project: projectName, runId: id, limit: z.number().int().min(1).max(100) }).strict(), shape<Example[]>()),

  'chat.open': call(
    z.object({ project: projectName, modelPath: z.string().min(1).max(4096), runId: id.optional() }).strict(),
    shape<{ sessionId: string; hasAdapter: boolean }>(),
  ),
  /** Streams `chat.token` events tagged with `streamId`; resolves with the whole answer. */
  'chat.generate': call(
    z
      .object({
        sessionId: id,
        streamId: id,
        which: z.enum(['tuned', 'base']),
        messages: z.array(chatMessage).min(1).max(200),
        sampling,
      })
      .strict(),
    shape<GenerateResult>(),
  ),
  'chat.stop': call(z.object({ streamId: id }).strict(), shape<{ stopped: boolean }>()),
  'chat.close': call(z.object({ sessionId: id }).strict(), shape<{ closed: boolean }>()),

  // Learning from corrections (src/main/services/corrections.ts): rate answers, correct them, teach again.
  /** Thumbs up or down for an answer of a run's adapter (`which: 'tuned'`) or of the original model. */
  'corrections.rate': call(
    z.object({ project: projectName, runId: id.optional(), which: z.enum(['tuned', 'base']), prompt: z.array(chatMessage).min(1).max(200), answer: z.string().max(200_000), rating: z.enum(['up', 'down']) }).strict(),
    shape<CorrectionsInfo>(),
  ),
  /** Saves a corrected answer (as an instruction example and as a preference pair); correcting the same question again replaces it. */
  'corrections.save': call(
    z
      .object({ project: projectName, runId: id.optional(), which: z.enum(['tuned', 'base']), prompt: z.array(chatMessage).min(1).max(200), answer: z.string().max(200_000), corrected: z.string().max(200_000) })
      .strict(),
    shape<CorrectionsInfo>(),
  ),
  'corrections.list': call(z.object({ project: projectName }).strict(), shape<CorrectionsInfo>()),
  /** Starts "teach it again": a run that continues `runId`'s adapter on the corrections, with original examples replayed. */
  'corrections.teachAgain': call(z.object({ project: projectName, runId: id }).strict(), shape<RunSummary>()),
  /** Before/after of a finished teach-again run on every corrected prompt and the held-out examples. Streams `corrections.progress`. */
  'corrections.compare': call(z.object({ project: projectName, runId: id }).strict(), shape<TeachAgainReport>()),

  /** The held-out review of a finished run: losses, and base vs tuned answers scored against yours. Streams `review.progress`. */
  'review.run': call(
    z.object({ project: projectName, runId: id, n: z.number().int().min(1).max(100).optional(), maxTokens: z.number().int().min(1).max(1024).optional() }).strict(),
    shape<ReviewReport>(),
  ),

  'export.choices': call(empty, shape<ExportChoice[]>()),
  /** Whether this run was saved in this format before (the page asks before replacing it). */
  'export.existing': call(z.object({ project: projectName, runId: id, format: exportFormat }).strict(), shape<{ exists: boolean; out: string }>()),
  /** Fails with `export-exists` when this run was saved in this format before, unless `overwrite`. */
  'export.run': call(
    z
      .object({
        project: projectName,
        runId: id,
        modelPath: z.string().min(1).max(4096),
        format: exportFormat,
        overwrite: z.boolean().optional(),
      })
      .strict(),
    shape<ExportResult>(),
  ),
  /** Shows an export in the system file manager (paths inside the workspace only). */
  'export.reveal': call(z.object({ project: projectName, out: z.string().min(1).max(4096) }).strict(), shape<{ shown: boolean }>()),

  /** Starts the local OpenAI-compatible server (127.0.0.1 only) for a finished run; one at a time. */
  'serve.start': call(z.object({ project: projectName, runId: id, port: z.number().int().min(0).max(65535).optional() }).strict(), shape<ServerInfo>()),
  'serve.stop': call(empty, shape<{ stopped: boolean }>()),
  'serve.status': call(empty, shape<ServerInfo | null>()),
} as const;

export const events = {
  'data.progress': shape<{ project: string; source: string; rowsRead: number; fraction?: number }>(),
  'tune.progress': shape<{ project: string; runId: string; event: TuneEvent }>(),
  'tune.state': shape<RunSummary>(),
  'tune.estimateProgress': shape<{ project: string; done: number; of: number }>(),
  'chat.token': shape<{ streamId: string; delta: string }>(),
  'export.progress': shape<{ project: string; runId: string; format: ExportFormat; fraction: number; stage: string }>(),
  'corrections.progress': shape<{ project: string; runId: string; done: number; total: number }>(),
  'review.progress': shape<{ project: string; runId: string; done: number; total: number }>(),
  'serve.state': shape<ServerInfo | null>(),
  'hub.progress': shape<HubPullEvent>(),
} as const;

// ---------------------------------------------------------------------------------------------
// Derived types

export type Calls = typeof calls;
export type CallName = keyof Calls;
export type EventName = keyof typeof events;
export type Req<K extends CallName> = z.infer<Calls[K]['request']>;
/** What a caller passes (defaults not yet applied). */
export type ReqIn<K extends CallName> = z.input<Calls[K]['request']>;
export type Res<K extends CallName> = Calls[K]['response'] extends Shape<infer T> ? T : never;
export type Payload<K extends EventName> = (typeof events)[K] extends Shape<infer T> ? T : never;

export const callNames = Object.keys(calls) as CallName[];
export const eventNames = Object.keys(events) as EventName[];

/** What travels back over IPC for every call: errors are values, so their code and text survive. */
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: AppError };

/** The IPC channel for an event (kept apart from call channels so neither can be mistaken for the other). */
export const eventChannel = (name: EventName): string => `event:${name}`;
export const callChannel = (name: CallName): string => `call:${name}`;
