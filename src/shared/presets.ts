/** Tuning presets and export choices, with the plain words the UI shows for each. */
import { advanced, type Advanced, type ExportChoice, type PresetName } from './contract.js';
import { explain } from './tune-settings.js';
import type { TemplateName } from './templates.js';

export interface Preset {
  name: PresetName;
  title: string;
  explanation: string;
  values: Advanced;
}

/** Early stopping on, validation about 10 times a run (chosen from the data size), patience 3. */
const VALIDATION_DEFAULTS = { template: 'model', trainTokens: 'auto', earlyStopping: true, evalEvery: 0, patience: 3, baseStorage: 'f32', recomputeActivations: false, method: 'sft' } as const;

/** How many held-out checks a run makes when the interval is chosen automatically. */
export const CHECKS_PER_RUN = 10;

/** Optimizer steps of a run: one per batch of examples, every epoch. */
export function estimateSteps(trainExamples: number, batchSize: number, epochs: number): number {
  return Math.max(1, Math.ceil(trainExamples / Math.max(1, batchSize))) * Math.max(1, epochs);
}

/** The validation interval: the chosen one, or about {@link CHECKS_PER_RUN} checks per run. */
export function resolveEvalEvery(evalEvery: number, totalSteps: number): number {
  return evalEvery > 0 ? evalEvery : Math.max(1, Math.round(totalSteps / CHECKS_PER_RUN));
}

export const PRESETS: Record<PresetName, Preset> = {
  quick: {
    name: 'quick',
    title: 'Quick',
    explanation: 'One pass over your examples. Good to check that everything works; the model learns the basics of your style.',
    values: { rank: 8, learningRate: 3e-4, epochs: 1, batchSize: 4, maxLength: 512, seed: 42, device: 'auto', ...VALIDATION_DEFAULTS },
  },
  balanced: {
    name: 'balanced',
    title: 'Balanced',
    explanation: 'Three passes over your examples. The usual choice: it learns your answers well without memorising them word for word.',
    values: { rank: 16, learningRate: 2e-4, epochs: 3, batchSize: 4, maxLength: 1024, seed: 42, device: 'auto', ...VALIDATION_DEFAULTS },
  },
  thorough: {
    name: 'thorough',
    title: 'Thorough',
    explanation: 'Five passes with more capacity. Takes the longest; worth it when you have many varied examples.',
    values: { rank: 32, learningRate: 1e-4, epochs: 5, batchSize: 4, maxLength: 2048, seed: 42, device: 'auto', ...VALIDATION_DEFAULTS },
  },
};

/** The app's explanation of each advanced setting, from the settings table. */
export const ADVANCED_HELP = Object.fromEntries(Object.keys(advanced.shape).map((k) => [k, explain(k as keyof Advanced)])) as Record<keyof Advanced, string>;

/** Plain names of the engine's named chat templates (others show their name). */
export const TEMPLATE_TITLES: Readonly<Record<string, string>> = {
  model: 'The model’s own',
  alpaca: 'Alpaca (### Instruction / ### Response)',
  chatml: 'ChatML (<|im_start|> … <|im_end|>)',
  llama3: 'Llama 3 (<|start_header_id|> … <|eot_id|>)',
} satisfies Record<'model' | TemplateName, string>;

export const EXPORT_CHOICES: ExportChoice[] = [
  {
    format: 'peft',
    title: 'Adapter only (small)',
    explanation: 'Just what your tuning changed, a few megabytes. Needs the original model next to it; Hugging Face PEFT and many tools can load it.',
  },
  {
    format: 'merged',
    title: 'Full model (safetensors)',
    explanation: 'The original model with your changes built in, as one folder. Bigger, but works on its own in Hugging Face tools.',
  },
  {
    format: 'gguf-f16',
    title: 'GGUF, full quality',
    explanation: 'One file for llama.cpp, Ollama and LM Studio, at full precision. The largest of the GGUF choices.',
  },
  {
    format: 'gguf-q8_0',
    title: 'GGUF, 8-bit',
    explanation: 'One file for llama.cpp, Ollama and LM Studio, about half the size of full quality with almost no loss.',
  },
  {
    format: 'gguf-q4',
    title: 'GGUF, 4-bit (smallest)',
    explanation: 'The smallest file, for laptops and phones. Answers get a little worse; fine for most everyday use.',
  },
];
