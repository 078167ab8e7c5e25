// Cross-check with llama.cpp itself (node-llama-cpp's prebuilt CPU binary): a GGUF written by
// Attune must load, tokenize like the shipped file and generate the same greedy tokens.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeGgufModel, type FloatTensor } from '../../../src/engine/weights/gguf-model.js';
import { readSafetensors, tensorToFloat32 } from '../../../src/engine/weights/safetensors.js';
import { GGUF_FILE, HF_DIR, tempDir } from './fixtures.js';

const PROMPTS = ['Once upon a time', 'Tom and Tim were friends.', 'The sun was hot and the dog', 'Lily saw a big red ball'];
const TEXTS = ['Once upon a time', ' two  spaces ', 'Hello\nworld', 'naïve café 😀', '日本語', "it's 12345 !!", '### Instruction:\nHi\n\n'];

let llama: Llama;
const models: LlamaModel[] = [];
let dir: string;

/** Greedy continuations of each prompt, one context per model (an F32 KV cache, as the HF README's check). */
async function greedy(model: LlamaModel, prompts: string[], n: number): Promise<number[][]> {
  const ctx = await model.createContext({ contextSize: 256, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } as never);
  const seq = ctx.getSequence();
  const all: number[][] = [];
  for (const prompt of prompts) {
    const out: number[] = [];
    for await (const t of seq.evaluate([1, ...model.tokenize(prompt)] as never, { temperature: 0 })) {
      out.push(Number(t));
      if (out.length >= n) break;
    }
    all.push(out);
    await seq.clearHistory();
  }
  return all;
}

async function exportStories(type: 'F32' | 'Q8_0'): Promise<string> {
  const st = await readSafetensors(join(HF_DIR, 'model.safetensors'));
  const tensors = new Map<string, FloatTensor>();
  for (const [k, t] of st.tensors) tensors.set(k, { data: tensorToFloat32(t), shape: t.shape });
  const json = async (f: string) => JSON.parse(await readFile(join(HF_DIR, f), 'utf8'));
  const file = join(dir, `stories-${type}.gguf`);
  await writeGgufModel(file, { tensors, config: await json('config.json'), tokenizerJson: await json('tokenizer.json'), tokenizerConfig: await json('tokenizer_config.json'), type });
  return file;
}

describe('llama.cpp loads what Attune writes', () => {
  beforeAll(async () => {
    dir = await tempDir();
    llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  }, 60_000);
  // One thread: llama.cpp's threads spin, and on a 2-core machine shared with another test fork
  // two threads were ~600x slower (14 s vs 23 ms for 20 tokens).
  // No dispose: node-llama-cpp's dispose can stall inside a vitest fork; the fork's exit frees it all.
  const load = async (modelPath: string): Promise<LlamaModel> => {
    const m = await llama.loadModel({ modelPath });
    models.push(m);
    return m;
  };

  it('an F32 export (tied output, derived scores) tokenizes and generates exactly like the shipped GGUF', async () => {
    const [orig, ours] = [await load(GGUF_FILE), await load(await exportStories('F32'))];
    for (const s of TEXTS) expect(Array.from(ours.tokenize(s)), JSON.stringify(s)).toEqual(Array.from(orig.tokenize(s)));
    const a = await greedy(orig, PROMPTS, 40);
    expect(a.map((x) => x.length)).toEqual(PROMPTS.map(() => 40));
    expect(await greedy(ours, PROMPTS, 40)).toEqual(a);
  }, 180_000);

  it('a Q8_0 export loads and continues a story in the same words at first', async () => {
    const [orig, q8] = [await load(GGUF_FILE), await load(await exportStories('Q8_0'))];
    const [a] = await greedy(orig, PROMPTS.slice(0, 1), 8), [b] = await greedy(q8, PROMPTS.slice(0, 1), 8);
    expect(b!.slice(0, 4)).toEqual(a!.slice(0, 4));
  }, 180_000);
});
