/**
 * The held-out review's results as plain data: the engine's `reviewAdapter` returns them and the
 * contract passes them on (with the question as text), so the two cannot drift apart.
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
  heldOutExamples: number;
  base: { loss: number; perplexity: number };
  tuned: { loss: number; perplexity: number };
  metric: 'ROUGE-L F1';
  samples: ReviewSample[];
  average: { base: number; tuned: number };
}
