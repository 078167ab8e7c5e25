/**
 * Results the engine returns as plain data and the contract passes on (the held-out review, the
 * length check before a run): written once here, so engine and app cannot drift apart.
 * No Node, DOM or Electron imports here.
 */

export interface ReviewSample {
  /** The conversation up to the answer. */
  prompt: { role: 'system' | 'user' | 'assistant'; content: string }[];
  /** The answer in the person's data. */
  expected: string;
  base: string;
  tuned: string;
  baseScore: number;
  tunedScore: number;
}

export interface ReviewReport {
  /** How many examples were evaluated (loss and perplexity are over all of them). */
  heldOutExamples: number;
  /** Where they came from: the run's held-out split, or the file given (`dataFile`). */
  examplesFrom: 'held-out' | 'file';
  dataFile?: string;
  base: { loss: number; perplexity: number };
  tuned: { loss: number; perplexity: number };
  metric: 'ROUGE-L F1';
  samples: ReviewSample[];
  average: { base: number; tuned: number };
}

/** The data re-checked with the chosen model's tokenizer and max length, before a run starts. */
export interface LengthCheck {
  examples: number;
  maxLength: number;
  /** The most tokens this model can read at once. */
  contextLength: number;
  /** Examples longer than `maxLength`: tuning would leave them out. */
  tooLong: number;
  /** The longest example, in tokens. */
  longest: number;
  /** A max length that keeps more examples (at most `contextLength`), when there is one. */
  suggestedMaxLength?: number;
  /** Examples still left out at `suggestedMaxLength` (or at the context length). */
  tooLongAtSuggested?: number;
  /** Examples the chat template could not format. */
  otherRejected: number;
  /** A few of the long ones: line in the project's examples, and the engine's sentence about it. */
  samples: { line: number; message: string; where?: ExamplePlace }[];
}

/** Where an example is in the app: its side of the split, its number there (1-based), and its row in the person's file. */
export interface ExamplePlace {
  split: 'train' | 'val';
  number: number;
  /** The line or row of the person's file it was read from. */
  row?: number;
}
