/**
 * llama.cpp (node-llama-cpp, CPU) as an external oracle for the reference forward: raw logits at
 * every position and greedy continuations of a GGUF model. Single thread, F32 KV cache, no flash
 * attention, so that its numbers are as close to float32 math as llama.cpp gets.
 */
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';

export interface LlamaCppRun {
  /** Raw logits [T, vocab] for the given ids (row t predicts token t+1). */
  logits: Float64Array;
  vocab: number;
  /** Greedy continuation (temperature 0) after the ids, `greedy` tokens long. */
  greedyIds: number[];
  /** llama.cpp's own tokenization of `text` (without BOS), when text was given. */
  tokenizedText?: number[];
}

export async function runLlamaCpp(ggufPath: string, ids: readonly number[], greedy: number, text?: string): Promise<LlamaCppRun> {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  try {
    const model = await llama.loadModel({ modelPath: ggufPath });
    const ctx = await model.createContext({
      contextSize: 512,
      batchSize: 512,
      threads: 1,
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
    });
    const seq = ctx.getSequence();
    const res = await seq.controlledEvaluate(ids.map((id) => [id as Token, { generateNext: { logits: true } }]));
    const V = res[0]?.next.logits?.size ?? 0;
    if (V === 0) throw new Error('llama.cpp returned no logits');
    const logits = new Float64Array(ids.length * V);
    res.forEach((r, t) => {
      for (const [tok, val] of r!.next.logits!) logits[t * V + tok] = val;
    });
    await seq.clearHistory();
    const greedyIds: number[] = [];
    if (greedy > 0) {
      for await (const tok of seq.evaluate(ids as Token[], { temperature: 0 })) {
        greedyIds.push(tok);
        if (greedyIds.length >= greedy) break;
      }
    }
    const tokenizedText = text === undefined ? undefined : [...model.tokenize(text)];
    await ctx.dispose();
    await model.dispose();
    return { logits, vocab: V, greedyIds, tokenizedText };
  } finally {
    await llama.dispose();
  }
}
