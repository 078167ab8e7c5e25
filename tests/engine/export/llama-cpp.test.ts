/**
 * A real client: GGUF exports of stories260K + a really trained adapter load in llama.cpp
 * (node-llama-cpp, CPU) and its greedy continuation matches Attune's own (base + adapter through
 * ChatSession) for the first 16 tokens at F32 and F16; Q8_0 and Q4_0 agreement is measured.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { getLlama, type Llama, type LlamaModel, type Token } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportModel, type ExportFormat } from '../../../src/engine/export/index.js';
import { ChatSession } from '../../../src/engine/generate/chat-session.js';
import { STORIES260K_HF_DIR } from '../../helpers/tiny-model.js';
import { instructionFor } from '../../helpers/instruction-data.js';
import { tempDir, trainStoriesAdapter } from './fixtures.js';

const tmp = tempDir('attune-llamacpp-');
process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
let llama: Llama;
let session: ChatSession;
let adapterDir: string;
const N = 16;
/** Prompt ids: two held-out instructions in the trained template, and a plain story start. */
let prompts: number[][];
let attune: number[][];
const agreement: Record<string, string> = {};

beforeAll(async () => {
  adapterDir = await trainStoriesAdapter(tmp);
  session = await ChatSession.open({ modelPath: STORIES260K_HF_DIR, adapterDir, device: 'cpu', threads: 1 });
  const tok = session.model.tokenizer;
  prompts = [
    tok.encodeChat([{ role: 'user', content: instructionFor('Mary', 'ball') }], { addGenerationPrompt: true }),
    tok.encodeChat([{ role: 'user', content: instructionFor('Paul', 'boat') }], { addGenerationPrompt: true }),
    tok.encode('Once upon a time, there was a little girl', { addSpecialTokens: true }),
  ];
  attune = [];
  for (const ids of prompts) {
    const r = await session.complete(ids, { maxTokens: N, temperature: 0 });
    // Attune stops at the stop token without returning it; llama.cpp's raw evaluation goes on.
    attune.push(r.stoppedBy === 'stop-token' ? [...r.tokens, tok.stopTokenIds[0]!] : r.tokens);
  }
  llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
}, 120_000);
// No dispose of llama.cpp objects: it can stall inside a vitest fork; the fork's exit frees them.
afterAll(async () => {
  console.log('greedy agreement with llama.cpp (tokens matching Attune F32 before the first difference):', JSON.stringify(agreement));
  await session?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function llamaGreedy(model: LlamaModel, ids: number[], n: number): Promise<number[]> {
  const ctx = await model.createContext({ contextSize: 256, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } as never);
  const seq = ctx.getSequence();
  const out: number[] = [];
  for await (const t of seq.evaluate(ids as Token[], { temperature: 0 })) {
    out.push(Number(t));
    if (out.length >= n) break;
  }
  return out;
}

const commonPrefix = (a: number[], b: number[]) => {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
};

async function exportAndRun(format: ExportFormat) {
  const out = path.join(tmp, format);
  const r = await exportModel({ modelPath: STORIES260K_HF_DIR, adapterDir, format, out });
  const model = await llama.loadModel({ modelPath: path.join(out, r.files.find((f) => f.name.endsWith('.gguf'))!.name) });
  const results = [];
  for (const [i, ids] of prompts.entries()) {
    const theirs = await llamaGreedy(model, ids, attune[i]!.length);
    results.push({ ours: attune[i]!, theirs, same: commonPrefix(attune[i]!, theirs) });
  }
  agreement[format] = results.map((x) => `${x.same}/${x.ours.length}`).join(' ');
  return { model, results };
}

describe('llama.cpp runs the exported GGUF', () => {
  it('the tuned model answers held-out prompts in the trained style (sanity)', () => {
    for (const ids of attune.slice(0, 2)) expect(session.model.tokenizer.decode(ids)).toMatch(/^Dear [A-Z][a-z]+, the /);
  });

  it.each(['gguf-f32', 'gguf-f16'] as const)('%s: llama.cpp greedy tokens equal Attune base + adapter (16 tokens or up to the stop token)', async (format) => {
    const { results, model } = await exportAndRun(format);
    for (const x of results) expect(x.theirs).toEqual(x.ours);
    expect(results.every((x) => x.ours.length >= 12)).toBe(true);
    // llama.cpp's tokenizer reads the same ids from the GGUF metadata.
    const tok = session.model.tokenizer;
    const text = '### Instruction:\nWhere is the cat?\n\n### Response:\n';
    expect([...model.tokenize(text)]).toEqual(tok.encode(text));
  });

  it.each(['gguf-q8_0', 'gguf-q4'] as const)('%s: llama.cpp loads it and generates; agreement is reported', async (format) => {
    const { results } = await exportAndRun(format);
    for (const x of results) expect(x.theirs.length).toBe(x.ours.length);
    if (format === 'gguf-q8_0') expect(results.reduce((a, x) => a + x.same, 0)).toBeGreaterThanOrEqual(results.reduce((a, x) => a + x.ours.length, 0) / 2);
  });
});
