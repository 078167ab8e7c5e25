/** Tuning presets and export choices, with the plain words the UI shows for each. */
import type { Advanced, ExportChoice, PresetName } from './contract.js';

export interface Preset {
  name: PresetName;
  title: string;
  explanation: string;
  values: Advanced;
}

export const PRESETS: Record<PresetName, Preset> = {
  quick: {
    name: 'quick',
    title: 'Quick',
    explanation: 'One pass over your examples. Good to check that everything works; the model learns the basics of your style.',
    values: { rank: 8, learningRate: 3e-4, epochs: 1, batchSize: 4, maxLength: 512, seed: 42, device: 'auto' },
  },
  balanced: {
    name: 'balanced',
    title: 'Balanced',
    explanation: 'Three passes over your examples. The usual choice: it learns your answers well without memorising them word for word.',
    values: { rank: 16, learningRate: 2e-4, epochs: 3, batchSize: 4, maxLength: 1024, seed: 42, device: 'auto' },
  },
  thorough: {
    name: 'thorough',
    title: 'Thorough',
    explanation: 'Five passes with more capacity. Takes the longest; worth it when you have many varied examples.',
    values: { rank: 32, learningRate: 1e-4, epochs: 5, batchSize: 4, maxLength: 2048, seed: 42, device: 'auto' },
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
};

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
