/**
 * llama.cpp (node-llama-cpp, CPU) as an external oracle for the reference forward: next-token
 * log-probabilities at every position (node-llama-cpp 3.21 exposes probabilities, not raw
 * logits; log p equals the logit up to each row's log-sum-exp) and greedy continuations of a
 * GGUF model. Single thread, F32 KV cache, no flash
 * attention, so that its numbers are as close to float32 math as llama.cpp gets.
 */
import { getLlama, LlamaLogLevel, type Token } from 'node-llama-cpp';

export interface LlamaCppRun {
  /** log p [T, vocab] for the given ids (row t predicts token t+1); -Infinity where p underflowed. */
  logProbs: Float64Array;
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
    const plain = { temperature: 1, topK: 0, topP: 1, minP: 0 };
    const res = await seq.controlledEvaluate(ids.map((id) => [id as Token, { generateNext: { probabilities: true, options: plain } }]));
    const rows = res.map((r) => r?.next.probabilities);
    const vocab = Math.max(...rows.map((m) => (m ? Math.max(...m.keys()) + 1 : 0)));
    if (!rows[0] || rows[0].size === 0) throw new Error('llama.cpp returned no probabilities');
    const logProbs = new Float64Array(ids.length * vocab).fill(-Infinity);
    rows.forEach((m, t) => {
      for (const [tok, p] of m!) logProbs[t * vocab + tok] = Math.log(p);
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
    return { logProbs, vocab, greedyIds, tokenizedText };
  } finally {
    await llama.dispose();
  }
}
