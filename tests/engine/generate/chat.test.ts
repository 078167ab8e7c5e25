/**
 * Generation end to end: the real stories260K weights give exactly the greedy tokens recorded
 * from the reference forward (cross-checked against llama.cpp), greedy is deterministic, seeded
 * sampling is reproducible, streaming deltas add up to the text, and stop tokens/strings stop.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatSession } from '../../../src/engine/generate/chat-session.js';
import { referenceGreedy } from '../../helpers/reference-forward.js';
import { STORIES260K_HF_DIR, writeTinyModel } from '../../helpers/tiny-model.js';

const fixture = JSON.parse(readFileSync(path.join(import.meta.dirname, '../../helpers/fixtures/stories260K-greedy.json'), 'utf8'));
const cache = mkdtempSync(path.join(os.tmpdir(), 'attune-cache-'));
let session: ChatSession;

beforeAll(async () => {
  process.env.ATTUNE_CACHE_DIR = cache;
  session = await ChatSession.open({ modelPath: STORIES260K_HF_DIR, device: 'cpu' });
});
afterAll(async () => {
  await session.close();
  rmSync(cache, { recursive: true, force: true });
});

describe('generation on the real stories260K weights', () => {
  it('greedy continuation equals the recorded reference tokens exactly', async () => {
    const prompt = session.model.tokenizer.encode(fixture.prompt, { addSpecialTokens: true });
    expect(prompt).toEqual(fixture.promptIds);
    const r = await session.complete(prompt, { maxTokens: fixture.greedyIds.length });
    expect(r.tokens).toEqual(fixture.greedyIds);
    expect(fixture.prompt + r.text).toBe(fixture.text);
  });

  it('greedy is deterministic and streams deltas that add up to the text', async () => {
    const messages = [{ role: 'user' as const, content: 'Tell me a story about a dog.' }];
    const deltas: string[] = [];
    const a = await session.generate(messages, { maxTokens: 40 }, { onText: (d) => deltas.push(d) });
    const b = await session.generate(messages, { maxTokens: 40 });
    expect(a.tokens).toEqual(b.tokens);
    expect(deltas.join('')).toBe(a.text);
    expect(deltas.length).toBeGreaterThan(5);
    expect(a.text).toMatch(/[a-z]+ [a-z]+/i); // sensible English words from a story model
    expect(a.promptTokens).toBe(session.model.tokenizer.encodeChat(messages, { addGenerationPrompt: true }).length);
  });

  it('seeded sampling is reproducible and differs across seeds', async () => {
    const messages = [{ role: 'user' as const, content: 'Once there was a cat.' }];
    const opts = { maxTokens: 30, temperature: 1, topP: 0.95, topK: 50 };
    const a = await session.generate(messages, { ...opts, seed: 1 });
    const b = await session.generate(messages, { ...opts, seed: 1 });
    const c = await session.generate(messages, { ...opts, seed: 2 });
    expect(a.tokens).toEqual(b.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it('stops at a stop string and leaves it out of the text', async () => {
    const prompt = session.model.tokenizer.encode(fixture.prompt, { addSpecialTokens: true });
    const r = await session.complete(prompt, { maxTokens: 40, stop: ['Lily'] });
    expect(r.stoppedBy).toBe('stop-string');
    expect(r.text).toBe(', there was a little girl named ');
  });

  it('drops the JavaScript copy of the weights once ONNX Runtime holds them, and can read them again', async () => {
    expect(session.model.weights.loaded).toBe(false);
    await session.model.weights.ensureLoaded();
    expect(session.model.weights.get('token_embd.weight').shape).toEqual([512, 64]);
    session.model.weights.release();
  });

  it('cancel stops generation', async () => {
    const controller = new AbortController();
    controller.abort();
    const r = await session.generate([{ role: 'user', content: 'Hi' }], { maxTokens: 50 }, { signal: controller.signal });
    expect(r.stoppedBy).toBe('cancelled');
    expect(r.tokens).toEqual([]);
  });
});

describe('generation on tiny random models matches the reference greedy decode', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-gen-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  for (const arch of ['llama', 'qwen2', 'qwen3'] as const) {
    it(`${arch}: KV-cache greedy tokens equal full-recompute reference tokens`, async () => {
      const dir = path.join(tmp, arch);
      writeTinyModel(dir, arch, { seed: 21 });
      const s = await ChatSession.open({ modelPath: dir, device: 'cpu' });
      // A stop token would end the comparison early; none is in the first 24 here.
      const prompt = [1, 100, 200, 300, 400];
      const r = await s.complete(prompt, { maxTokens: 24 });
      const ref = referenceGreedy(dir, prompt, 24, { stopIds: s.model.tokenizer.stopTokenIds });
      expect(r.tokens).toEqual(ref);
      await s.close();
    });
  }
});

describe('the next turn of a conversation starts from the kept KV cache', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-turns-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('runs only what follows the shared prefix, and answers as a fresh session does', async () => {
    const dir = path.join(tmp, 'llama16');
    // head_dim 16: the fused layers, whose cache can forget positions.
    writeTinyModel(dir, 'llama', { seed: 21, headDim: 16 });
    const s = await ChatSession.open({ modelPath: dir, device: 'cpu' });
    const reference = (prompt: number[], n: number) => referenceGreedy(dir, prompt, n, { stopIds: s.model.tokenizer.stopTokenIds });
    const first = [1, 100, 200, 300, 400];
    const a = await s.complete(first, { maxTokens: 6 });
    expect(a.reusedPromptTokens).toBe(0);
    expect(a.tokens).toEqual(reference(first, 6));
    // The next turn: the whole first exchange and a new message. The last answer token was
    // sampled but never run, so it is the first one run now.
    const second = [...first, ...a.tokens, 250, 350];
    const b = await s.complete(second, { maxTokens: 6 });
    expect(b.reusedPromptTokens).toBe(first.length + a.tokens.length - 1);
    expect(b.tokens).toEqual(reference(second, 6));
    // Another conversation sharing two ids: the cache is cut back to them.
    const other = [1, 100, 7, 8, 9, 10];
    const c = await s.complete(other, { maxTokens: 6 });
    expect(c.reusedPromptTokens).toBe(2);
    expect(c.tokens).toEqual(reference(other, 6));
    // Asked at once: the second answer does not share the cache the first is filling.
    const [d, e] = await Promise.all([s.complete(first, { maxTokens: 6 }), s.complete(second, { maxTokens: 6 })]);
    expect(d.tokens).toEqual(a.tokens);
    expect(e.tokens).toEqual(b.tokens);
    await s.close();
  });
});
