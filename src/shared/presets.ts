/** Tuning presets and export choices, with the plain words the UI shows for each. */
import type { Advanced, ExportChoice, PresetName } from './contract.js';
import type { TemplateName } from './templates.js';

export interface Preset {
  name: PresetName;
  title: string;
  explanation: string;
  values: Advanced;
}

/** Early stopping on, validation about 10 times a run (chosen from the data size), patience 3. */
const VALIDATION_DEFAULTS = { template: 'model', trainTokens: 'auto', earlyStopping: true, evalEvery: 0, patience: 3, baseWeights: 'f32', saveActivationMemory: false } as const;

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

export const ADVANCED_HELP: Record<keyof Advanced, string> = {
  rank: 'How much the model may change (LoRA rank). Higher learns more but needs more memory.',
  learningRate: 'How big each learning step is. Too high and training becomes unstable.',
  epochs: 'How many times the model reads all your examples.',
  batchSize: 'How many examples it reads at once. Lower uses less memory.',
  maxLength: 'The longest example, in tokens, it will read. Longer examples are cut.',
  seed: 'A number that makes the run repeatable: the same seed gives the same result.',
  device: 'Where the work runs. Automatic picks the fastest one that works on this machine.',
  template: 'How a conversation is written out for the model. Its own template is best when it has one; the answers you chat with later use the same.',
  trainTokens: 'Some models never learned the marker that ends an answer, so they ramble on. Attune can teach those markers too.',
  earlyStopping:
    'Every so often Attune asks the model your held-out examples, which it never learns from. When its answers to them stop getting better, more training would only make it memorise your examples, so Attune stops and keeps the best version.',
  evalEvery: 'How often (in steps) the held-out examples are checked. 0 lets Attune choose from the size of your data: about 10 checks per run.',
  patience: 'How many checks in a row may fail to improve before training stops early.',
  baseWeights: 'How the base model is kept in memory while tuning. Exact is best when it fits; smaller versions let a larger model tune on this machine, with answers very close to the exact one.',
  saveActivationMemory: 'Work each layer out again when learning from it instead of keeping it in memory: far less memory for larger models, about a third more time.',
};

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
