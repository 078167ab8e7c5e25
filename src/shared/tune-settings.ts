/**
 * The tuning settings, once: each setting's one name, its plain-language help, its default and
 * its allowed values. Everything else derives from this table:
 * - the app's advanced settings (`advanced` in contract.ts picks from `tuneSettings`),
 * - the CLI's `attune tune` options (`--<kebab-case name>`, help and default from `SETTINGS`),
 * - the engine's resolved hyperparameters (src/engine/train/hyperparameters.ts) and a run's
 *   config.json (the engine writes the parsed settings there).
 *
 * A name that a setting had before it was unified stays readable (`LEGACY_NAMES`): old
 * config.json files, old run records and old CLI flags still work.
 *
 * To add a setting, add one entry to `SETTINGS`. Runs in every process: zod only, no Node or DOM.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Validators whose messages are plain words (the app shows them next to the field as one types)

function whole(min: number, max: number) {
  return z
    .number({ error: 'Use a number.' })
    .int({ error: 'Use a whole number.' })
    .min(min, { error: `Use a whole number of at least ${min}.` })
    .max(max, { error: `Use a whole number of at most ${max}.` });
}

/** A number in [min, max]; `above` makes the lower end exclusive. */
function decimal(min: number, max: number, opts: { above?: boolean; below?: boolean } = {}) {
  const n = z.number({ error: 'Use a number.' }).refine(Number.isFinite, { error: 'Use a number.' });
  const low = opts.above ? n.gt(min, { error: `Use a number above ${min}.` }) : n.min(min, { error: `Use a number of at least ${min}.` });
  return opts.below ? low.lt(max, { error: `Use a number below ${max}.` }) : low.max(max, { error: `Use a number of at most ${max}.` });
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `Choose one of: ${values.join(', ')}.` });
}

const yesNo = () => z.boolean({ error: 'Choose yes or no.' });

// ---------------------------------------------------------------------------------------------
// Lists of choices

export const LR_SCHEDULES = ['cosine', 'linear', 'constant'] as const;
export const BASE_STORAGE_CHOICES = ['f32', 'f16', 'int8', 'int4'] as const;
export const DEVICE_CHOICES = ['auto', 'cpu', 'webgpu', 'cuda', 'dml'] as const;
/** sft: learn the answers; dpo/orpo: prefer the `chosen` answers of preference pairs over the `rejected` ones. */
export const TRAIN_METHODS = ['sft', 'dpo', 'orpo'] as const;
/**
 * Learning rate and passes of each preference method where none is given, measured on the bundled
 * tiny model (the engine's METHOD_DEFAULTS; tests/engine/train/preference-real.test.ts). The app
 * suggests them when a person chooses the method.
 */
export const PREFERENCE_DEFAULTS = {
  dpo: { learningRate: 2e-4, epochs: 1 },
  orpo: { learningRate: 2e-3, epochs: 4 },
} as const satisfies Record<Exclude<(typeof TRAIN_METHODS)[number], 'sft'>, { learningRate: number; epochs: number }>;
/** The projections LoRA may adapt (the engine's LORA_TARGETS, src/engine/models). */
const TARGET_NAME = /^[a-z][a-z_]{0,15}$/;
/** A chat template name: 'model' (the model's own) or one of the engine's named templates. */
export const TEMPLATE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

// ---------------------------------------------------------------------------------------------
// The table

/** How the CLI reads a value from text. */
type Kind = 'int' | 'number' | 'choice' | 'flag' | 'text' | 'list' | 'tokens';

interface Entry<T extends z.ZodType> {
  schema: T;
  kind: Kind;
  /** One line: what the setting does (CLI help, and the app's help when `explain` is absent). */
  help: string;
  /** The app's longer plain-language explanation. */
  explain?: string;
  /** What the help shows as the default when there is no fixed one. */
  defaultText?: string;
  /** The CLI's placeholder for the value (`<n>`). */
  placeholder?: string;
  /** false: the CLI does not offer this setting (the app sets it from other choices). */
  cli?: false;
}

const entry = <T extends z.ZodType>(e: Entry<T>): Entry<T> => e;

export const SETTINGS = {
  // ---- how long and how fast
  epochs: entry({ schema: whole(1, 1000).default(3), kind: 'int', help: 'passes over the data', explain: 'How many times the model reads all your examples.' }),
  maxSteps: entry({ schema: whole(1, 100_000_000).optional(), kind: 'int', help: 'stop after this many optimizer steps', defaultText: 'all the epochs' }),
  learningRate: entry({
    schema: decimal(0, 1, { above: true }).default(2e-4),
    kind: 'number',
    help: 'peak learning rate',
    explain: 'How big each learning step is. Too high and training becomes unstable.',
    placeholder: '<x>',
  }),
  lrSchedule: entry({ schema: oneOf(LR_SCHEDULES).default('cosine'), kind: 'choice', help: 'learning-rate schedule after warmup' }),
  warmupSteps: entry({ schema: whole(0, 1_000_000).default(10), kind: 'int', help: 'steps of linear warmup' }),
  weightDecay: entry({ schema: decimal(0, 1).default(0), kind: 'number', help: 'AdamW weight decay', placeholder: '<w>' }),
  // ---- what is learned
  method: entry({
    schema: oneOf(TRAIN_METHODS).default('sft'),
    kind: 'choice',
    help: 'sft: learn the answers; dpo: prefer "chosen" over "rejected" answers, from the starting point (--init-adapter); orpo: both at once, from the base (dpo: learning rate 2e-4 and 1 epoch, orpo: 2e-3 and 4, unless given)',
    explain: 'What the model learns from: your answers (instruction tuning), or pairs of a better and a worse answer (preference tuning: DPO from an earlier tune, ORPO from the base model).',
    placeholder: '<method>',
  }),
  beta: entry({
    schema: decimal(0, 1000, { above: true }).optional(),
    kind: 'number',
    help: "DPO's beta, or ORPO's weight of the preference term (only with --method dpo or orpo)",
    explain: 'How strongly the model is pushed towards the better answer and away from the worse one. Higher keeps it closer to where it started (DPO), or weighs the preference more (ORPO). Leave it empty for the usual 0.1.',
    defaultText: '0.1',
    placeholder: '<b>',
  }),
  rpoAlpha: entry({
    schema: decimal(0, 1000).optional(),
    kind: 'number',
    help: "with --method dpo: also learn the chosen answers, adding this many times their mean negative log-likelihood per token to the loss (TRL's rpo_alpha)",
    explain: 'DPO only: also learn the better answers word for word, with this weight (1 is a good start; empty or 0 is off). Without it DPO mostly unlearns the worse answer.',
    defaultText: '0, off',
    placeholder: '<a>',
  }),
  rank: entry({
    schema: whole(1, 256).default(16),
    kind: 'int',
    help: 'LoRA rank',
    explain: 'How much the model may change (LoRA rank). Higher learns more but needs more memory.',
    placeholder: '<r>',
  }),
  alpha: entry({ schema: decimal(0, 100_000, { above: true }).optional(), kind: 'number', help: 'LoRA alpha', defaultText: '2 x rank', placeholder: '<a>' }),
  loraDropout: entry({ schema: decimal(0, 0.9).default(0), kind: 'number', help: 'LoRA dropout (0 = off)', placeholder: '<d>' }),
  targets: entry({
    schema: z.array(z.string().regex(TARGET_NAME, { error: 'Use projection names such as q, k, v, o, gate, up, down.' })).min(1, { error: 'Name at least one projection.' }).optional(),
    kind: 'list',
    help: 'projections to adapt, comma-separated (q,k,v,o,gate,up,down)',
    defaultText: 'all',
    placeholder: '<list>',
  }),
  // ---- batches
  batchSize: entry({
    schema: whole(1, 512).default(4),
    kind: 'int',
    help: 'examples per micro-batch',
    explain: 'How many examples it reads at once. Lower uses less memory.',
    placeholder: '<b>',
  }),
  gradAccum: entry({ schema: whole(1, 1024).default(1), kind: 'int', help: 'micro-batches per optimizer step', placeholder: '<g>' }),
  maxLength: entry({
    schema: whole(16, 131072).default(512),
    kind: 'int',
    help: 'longest example in tokens; longer ones are left out',
    explain: 'The longest example, in tokens, it will read. Longer examples are left out of tuning (they are not cut short).',
    placeholder: '<l>',
  }),
  seed: entry({
    schema: whole(0, 2 ** 31 - 1).default(42),
    kind: 'int',
    help: 'random seed (same seed and data give the same run)',
    explain: 'A number that makes the run repeatable: the same seed gives the same result.',
    placeholder: '<s>',
  }),
  // ---- the optimizer
  maxGradNorm: entry({ schema: decimal(0, 1_000_000, { above: true }).default(1), kind: 'number', help: 'clip the gradient to this norm', placeholder: '<x>' }),
  beta1: entry({ schema: decimal(0, 1, { below: true }).default(0.9), kind: 'number', help: 'AdamW beta1', placeholder: '<x>' }),
  beta2: entry({ schema: decimal(0, 1, { below: true }).default(0.999), kind: 'number', help: 'AdamW beta2', placeholder: '<x>' }),
  eps: entry({ schema: decimal(0, 1, { above: true }).default(1e-8), kind: 'number', help: 'AdamW epsilon', placeholder: '<x>' }),
  // ---- validation and checkpoints
  evalEvery: entry({
    schema: whole(0, 1_000_000).default(0),
    kind: 'int',
    help: 'validate every N steps (0 = at the end)',
    explain: 'How often (in steps) the held-out examples are checked. 0 lets Attune choose from the size of your data: about 10 checks per run.',
  }),
  earlyStopping: entry({
    schema: yesNo().default(false),
    kind: 'flag',
    help: 'stop when the validation loss stops improving, keeping the best step',
    explain:
      'Every so often Attune asks the model your held-out examples, which it never learns from. When its answers to them stop getting better, more training would only make it memorise your examples, so Attune stops and keeps the best version.',
  }),
  patience: entry({
    schema: whole(1, 100).default(3),
    kind: 'int',
    help: 'with --early-stopping: validations in a row without improvement before stopping',
    explain: 'How many checks in a row may fail to improve before training stops early.',
    placeholder: '<p>',
  }),
  checkpointMinutes: entry({ schema: decimal(0, 100_000).default(5), kind: 'number', help: 'minutes between checkpoints', placeholder: '<m>' }),
  // ---- memory
  baseStorage: entry({
    schema: oneOf(BASE_STORAGE_CHOICES).optional(),
    kind: 'choice',
    help: 'store the frozen model as f32 (exact) or f16/int8/int4 (less memory)',
    explain:
      'How the base model is kept in memory while tuning. Exact is best when it fits; smaller versions let a larger model tune on this machine, with answers very close to the exact one.',
    defaultText: 'f16 on a GPU that computes in it, else f32',
    placeholder: '<storage>',
  }),
  recomputeActivations: entry({
    schema: yesNo().default(false),
    kind: 'flag',
    help: 'recompute each layer in the backward pass: far less memory for about a third more time',
    explain: 'Work each layer out again when learning from it instead of keeping it in memory: far less memory for larger models, about a third more time.',
  }),
  // ---- the run around the trainer
  valFraction: entry({ schema: decimal(0, 0.9).default(0.1), kind: 'number', help: 'share of examples held out for validation', placeholder: '<f>' }),
  device: entry({
    schema: oneOf(DEVICE_CHOICES).default('auto'),
    kind: 'choice',
    help: 'where to run',
    explain: 'Where the work runs. Automatic picks the fastest one that works on this machine.',
    placeholder: '<device>',
  }),
  template: entry({
    schema: z.string().regex(TEMPLATE_NAME, { error: 'Not a template name.' }).optional(),
    kind: 'text',
    help: 'chat template: model, alpaca, chatml, llama3',
    explain: 'How a conversation is written out for the model. Its own template is best when it has one; the answers you chat with later use the same.',
    defaultText: "the model's own",
    placeholder: '<name>',
  }),
  trainTokens: entry({
    schema: z
      .union([z.enum(['auto', 'none']), z.array(whole(0, 2 ** 31 - 1)).min(1)], { error: 'Use auto, none, or a comma-separated list of token ids.' })
      .default('auto'),
    kind: 'tokens',
    help: 'also train these token rows (auto: untrained tokens the template uses)',
    explain: 'Some models never learned the marker that ends an answer, so they ramble on. Attune can teach those markers too.',
    placeholder: '<auto|none|ids>',
  }),
  initAdapter: entry({ schema: z.string().min(1).optional(), kind: 'text', help: 'start from an existing adapter', placeholder: '<dir>' }),
  threads: entry({ schema: whole(1, 1024).optional(), kind: 'int', help: 'CPU threads', defaultText: 'one per core' }),
} satisfies Record<string, Entry<z.ZodType>>;

export type SettingName = keyof typeof SETTINGS;
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[];

/** Every tuning setting, with defaults. */
export const tuneSettings = z.object(Object.fromEntries(SETTING_NAMES.map((k) => [k, SETTINGS[k].schema])) as { [K in SettingName]: (typeof SETTINGS)[K]['schema'] });
/** Parsed settings: defaults filled in; `undefined` where the engine decides (alpha, targets, base storage, ...). */
export type TuneSettings = z.output<typeof tuneSettings>;
/** What a caller may pass: any subset. */
export type TuneSettingsInput = z.input<typeof tuneSettings>;

/** The defaults, as parsed from nothing. */
export const TUNE_DEFAULTS: TuneSettings = tuneSettings.parse({});

/** Settings of the run around the trainer; all others are the trainer's hyperparameters. */
export const RUN_SETTING_NAMES = ['valFraction', 'device', 'template', 'trainTokens', 'initAdapter', 'threads'] as const satisfies readonly SettingName[];
export type RunSettingName = (typeof RUN_SETTING_NAMES)[number];
export type HyperparameterName = Exclude<SettingName, RunSettingName>;
export const HYPERPARAMETER_NAMES = SETTING_NAMES.filter((k): k is HyperparameterName => !(RUN_SETTING_NAMES as readonly string[]).includes(k));

// ---------------------------------------------------------------------------------------------
// Names from before the settings were unified

/** Older name -> the setting's one name. Read from old config.json files, run records and CLI flags. */
export const LEGACY_NAMES = {
  lr: 'learningRate',
  baseWeights: 'baseStorage',
  saveActivationMemory: 'recomputeActivations',
  target: 'targets',
} as const satisfies Record<string, SettingName>;

/**
 * `obj` with older names replaced by the settings' one names, as if each had been written under
 * its current name in its place (so a later key wins, as in an object spread).
 * `earlyStoppingPatience: P` (P validations, 0 = off) becomes `earlyStopping` and `patience`.
 * Other keys pass through untouched.
 */
export function withCurrentNames<T>(obj: T): T {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return obj;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj as Record<string, unknown>)) {
    if (key === 'earlyStoppingPatience') {
      if (typeof value !== 'number') out.earlyStopping = value; // not a number: validation names it
      else {
        out.earlyStopping = value > 0;
        if (value > 0) out.patience = value;
      }
    } else out[key in LEGACY_NAMES ? LEGACY_NAMES[key as keyof typeof LEGACY_NAMES] : key] = value;
  }
  return out as T;
}

// ---------------------------------------------------------------------------------------------
// Checking values one at a time (the app's fields as a person types, the CLI's flags)

/** A plain sentence saying what is wrong with `value` for `name`, or undefined when it is fine. */
export function checkSetting(name: SettingName, value: unknown): string | undefined {
  const r = SETTINGS[name].schema.safeParse(value);
  return r.success ? undefined : r.error.issues[0]?.message;
}

/** The value typed as text (a CLI flag, a text field) read for `name`; throws a plain Error. */
export function readSetting(name: SettingName, text: string): unknown {
  const kind = SETTINGS[name].kind;
  const t = text.trim();
  let value: unknown = t;
  if (kind === 'int' || kind === 'number') value = t === '' ? Number.NaN : Number(t);
  else if (kind === 'flag') value = t === '' || t === 'true' || t === 'yes' ? true : t === 'false' || t === 'no' ? false : t;
  else if (kind === 'list') value = t.split(',').map((s) => s.trim()).filter(Boolean);
  else if (kind === 'tokens' && t !== 'auto' && t !== 'none') value = t.split(',').map((s) => (s.trim() === '' ? Number.NaN : Number(s.trim())));
  const problem = checkSetting(name, value);
  if (problem) throw new Error(problem);
  return SETTINGS[name].schema.parse(value);
}

/** Whole settings, checked; the message names the first wrong setting in plain words. */
export function parseTuneSettings(input: unknown): { ok: true; value: TuneSettings } | { ok: false; name: string; message: string } {
  const r = tuneSettings.strict().safeParse(withCurrentNames(input ?? {}));
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0]!;
  const name = issue.code === 'unrecognized_keys' ? issue.keys[0]! : String(issue.path[0] ?? '');
  return { ok: false, name, message: issue.code === 'unrecognized_keys' ? `There is no tuning setting called “${name}”.` : issue.message };
}

/** `learningRate` -> `learning-rate` (the CLI flag's name). */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** What the help shows as a setting's default, if anything. */
export function defaultText(name: SettingName): string | undefined {
  const e: Entry<z.ZodType> = SETTINGS[name];
  if (e.defaultText) return e.defaultText;
  const parsed = e.schema.safeParse(undefined);
  const v = parsed.success ? parsed.data : undefined;
  if (v === undefined || v === false) return undefined;
  return Array.isArray(v) ? v.join(',') : String(v);
}

/** The app's explanation of a setting. */
export function explain(name: SettingName): string {
  const e: Entry<z.ZodType> = SETTINGS[name];
  return e.explain ?? e.help;
}
