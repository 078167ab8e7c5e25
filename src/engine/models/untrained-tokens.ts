/**
 * Finds the special tokens a chat template relies on (BOS/EOS, end-of-turn, role markers) whose
 * embedding rows were never trained. A base model that never saw `</s>` cannot learn to end an
 * answer through LoRA on the projections alone: its `</s>` logit stays tied to dozens of other
 * never-trained rows. Such rows are trained directly (see the trainer's token rows).
 *
 * A row looks untrained when it is all zeros, when its norm is far from the typical row's, or
 * when it is nearly identical to several other rows (rows left at their shared initial value).
 */
import type { LoadedModel } from './load.js';

export interface UntrainedToken {
  id: number;
  token: string;
  reason: 'zero' | 'norm' | 'clump';
  /** Which table: the input embedding, or the untied output head. */
  table: 'embedding' | 'head';
}

/** Ids the chat template itself writes, plus the stop tokens and BOS. */
export function templateSpecialTokens(model: LoadedModel): number[] {
  const tok = model.tokenizer;
  const ids = new Set<number>(tok.stopTokenIds);
  if (tok.bosTokenId !== undefined) ids.add(tok.bosTokenId);
  if (tok.hasChatTemplate) {
    const sample = tok.encodeChat(
      [
        { role: 'system', content: 'S' },
        { role: 'user', content: 'U' },
        { role: 'assistant', content: 'A' },
      ],
      { addGenerationPrompt: false },
    );
    const plain = new Set([...tok.encode('S U A'), ...tok.encode('S'), ...tok.encode('U'), ...tok.encode('A')]);
    for (const id of sample) {
      const text = tok.idToToken(id) ?? '';
      // Added/special tokens look like <...> or <|...|>; ordinary pieces of the template text are trained.
      if (!plain.has(id) && /^<.*>$/.test(text) && !/^<0x[0-9A-F]{2}>$/.test(text)) ids.add(id);
    }
  }
  return [...ids].filter((id) => id >= 0 && id < model.config.vocab).sort((a, b) => a - b);
}

export function findUntrainedTokens(model: LoadedModel, candidates = templateSpecialTokens(model)): UntrainedToken[] {
  const found: UntrainedToken[] = [];
  const tables: { name: string; table: UntrainedToken['table'] }[] = [{ name: 'token_embd.weight', table: 'embedding' }];
  if (!model.config.tieEmbeddings) tables.push({ name: 'output.weight', table: 'head' });
  for (const { name, table } of tables) {
    const w = model.weights.get(name).data;
    const D = model.config.hidden;
    const V = model.config.vocab;
    const norms = new Float64Array(V);
    for (let r = 0; r < V; r++) {
      let s = 0;
      for (let i = 0; i < D; i++) s += w[r * D + i] ** 2;
      norms[r] = Math.sqrt(s);
    }
    const median = Float64Array.from(norms).sort()[V >> 1];
    for (const id of candidates) {
      const reason = rowVerdict(w, norms, id, D, V, median);
      if (reason && !found.some((f) => f.id === id)) found.push({ id, token: model.tokenizer.idToToken(id) ?? String(id), reason, table });
    }
  }
  return found.sort((a, b) => a.id - b.id);
}

function rowVerdict(w: Float32Array, norms: Float64Array, id: number, D: number, V: number, median: number): UntrainedToken['reason'] | undefined {
  if (norms[id] < 1e-6 * Math.max(median, 1e-12)) return 'zero';
  if (norms[id] < 0.2 * median || norms[id] > 5 * median) return 'norm';
  // Rows that never received a gradient keep (almost) the same value as each other.
  const tol = 1e-2 * norms[id];
  let twins = 0;
  for (let r = 0; r < V && twins < 3; r++) {
    if (r === id || Math.abs(norms[r] - norms[id]) > tol) continue;
    let d = 0;
    for (let i = 0; i < D && d <= tol * tol; i++) d += (w[r * D + i] - w[id * D + i]) ** 2;
    if (d <= tol * tol) twins++;
  }
  return twins >= 3 ? 'clump' : undefined;
}

/**
 * Starting values for trained rows: untrained rows start from the mean of the trained rows (as
 * the best tuning libraries do); rows that were trained keep their values.
 */
export function initialTokenRows(model: LoadedModel, ids: number[], untrained: Set<number>, tableName: string): Float32Array {
  const D = model.config.hidden;
  const V = model.config.vocab;
  const w = model.weights.get(tableName).data;
  // Leave out the untrained rows and every row in a clump with one of them.
  const excluded = new Set(untrained);
  for (const u of untrained) {
    let nu = 0;
    for (let i = 0; i < D; i++) nu += w[u * D + i] ** 2;
    const tol2 = 1e-4 * nu;
    for (let r = 0; r < V; r++) {
      let d = 0;
      for (let i = 0; i < D && d <= tol2; i++) d += (w[r * D + i] - w[u * D + i]) ** 2;
      if (d <= tol2) excluded.add(r);
    }
  }
  const mean = new Float64Array(D);
  let count = 0;
  for (let r = 0; r < V; r++) {
    if (excluded.has(r)) continue;
    for (let i = 0; i < D; i++) mean[i] += w[r * D + i];
    count++;
  }
  for (let i = 0; i < D; i++) mean[i] /= Math.max(1, count);
  const out = new Float32Array(ids.length * D);
  ids.forEach((id, k) => {
    if (untrained.has(id)) for (let i = 0; i < D; i++) out[k * D + i] = mean[i];
    else out.set(w.subarray(id * D, (id + 1) * D), k * D);
  });
  return out;
}
