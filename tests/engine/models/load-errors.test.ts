/** Bad model input gets a clear error naming the file and what is wrong. */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../../src/engine/models/load.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-load-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = (arch: 'llama' | 'qwen2' = 'llama') => {
  const dir = path.join(tmp, `m${n++}`);
  writeTinyModel(dir, arch, { seed: 1 });
  return dir;
};
const editJson = (file: string, edit: (j: Record<string, unknown>) => void) => {
  const j = JSON.parse(readFileSync(file, 'utf8'));
  edit(j);
  writeFileSync(file, JSON.stringify(j));
};

describe('loadModel errors', () => {
  it('a path that does not exist', async () => {
    await expect(loadModel(path.join(tmp, 'nope'))).rejects.toThrow(/does not exist/);
  });

  it('a folder without config.json', async () => {
    const dir = fresh();
    unlinkSync(path.join(dir, 'config.json'));
    await expect(loadModel(dir)).rejects.toThrow(/config\.json is missing/);
  });

  it('an unsupported architecture names it and lists the supported ones', async () => {
    const dir = fresh();
    editJson(path.join(dir, 'config.json'), (j) => (j.model_type = 'gpt_neox'));
    await expect(loadModel(dir)).rejects.toThrow(/"gpt_neox" is not supported.*llama.*mistral.*qwen2.*qwen3/);
  });

  it('a truncated safetensors file names the file', async () => {
    const dir = fresh();
    const file = path.join(dir, 'model.safetensors');
    truncateSync(file, Math.floor(readFileSync(file).length / 2));
    await expect(loadModel(dir)).rejects.toThrow(/model\.safetensors.*(truncated|corrupt)/);
  });

  it('a safetensors header with offsets past the end is refused, not trusted', async () => {
    const dir = fresh();
    const file = path.join(dir, 'model.safetensors');
    const buf = readFileSync(file);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString());
    const first = Object.keys(header).find((k) => k !== '__metadata__')!;
    header[first].data_offsets = [0, 10_000_000];
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(file, Buffer.concat([len, Buffer.from(json), buf.subarray(8 + n)]));
    await expect(loadModel(dir)).rejects.toThrow(new RegExp(first.replace(/\./g, '\\.')));
  });

  it('pickle checkpoints are refused with the reason', async () => {
    const dir = path.join(tmp, 'pickle');
    mkdirSync(dir);
    const src = fresh();
    copyFileSync(path.join(src, 'config.json'), path.join(dir, 'config.json'));
    writeFileSync(path.join(dir, 'pytorch_model.bin'), 'not really a pickle');
    await expect(loadModel(dir)).rejects.toThrow(/pytorch_model\.bin.*pickle.*run arbitrary code/);
    await expect(loadModel(path.join(dir, 'pytorch_model.bin'))).rejects.toThrow(/pickle/);
  });

  it('a tokenizer larger than the model vocabulary is a mismatch', async () => {
    const dir = fresh();
    editJson(path.join(dir, 'tokenizer.json'), (j) => {
      const added = j.added_tokens as Record<string, unknown>[];
      for (let i = 0; i < 8; i++) added.push({ id: 512 + i, content: `<extra_${i}>`, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    });
    await expect(loadModel(dir)).rejects.toThrow(/tokenizer has 520 tokens but the model only knows 512/);
  });

  it('a weight with the wrong shape names the weight', async () => {
    const dir = fresh();
    editJson(path.join(dir, 'config.json'), (j) => (j.intermediate_size = 99));
    await expect(loadModel(dir)).rejects.toThrow(/model\.layers\.0\.mlp\.gate_proj\.weight.*shape/);
  });

  it('a missing tokenizer.json is named', async () => {
    const dir = fresh();
    unlinkSync(path.join(dir, 'tokenizer.json'));
    await expect(loadModel(dir)).rejects.toThrow(/tokenizer\.json is missing/);
  });

  it('a config field with a wrong type is named', async () => {
    const dir = fresh();
    editJson(path.join(dir, 'config.json'), (j) => (j.num_hidden_layers = 'two'));
    await expect(loadModel(dir)).rejects.toThrow(/num_hidden_layers/);
  });
});

describe('loadModel with lazy weights', () => {
  it('checks names and shapes from the headers alone, and reads the weights only when asked', async () => {
    const dir = fresh();
    const model = await loadModel(dir, { lazyWeights: true });
    expect(model.weights.loaded).toBe(false);
    await model.weights.ensureLoaded();
    // Single tensors are read from disk on request and not kept: the model is never all in memory.
    const eager = await loadModel(dir);
    for (const name of ['blk.0.attn_q.weight', 'token_embd.weight', 'output_norm.weight']) {
      expect(model.weights.has(name)).toBe(true);
      expect(Array.from(model.weights.get(name).data)).toEqual(Array.from(eager.weights.get(name).data));
    }
    expect(model.weights.loaded).toBe(false);
    expect(model.weights.has('blk.99.attn_q.weight')).toBe(false);
    expect(() => model.weights.get('blk.99.attn_q.weight')).toThrow(/missing/);
    await model.weights.loadAll();
    expect(model.weights.tensors.size).toBe(eager.weights.tensors.size);
  });

  it('still refuses a wrong shape and a truncated file before reading any weight', async () => {
    const bad = fresh();
    editJson(path.join(bad, 'config.json'), (j) => (j.intermediate_size = 99));
    await expect(loadModel(bad, { lazyWeights: true })).rejects.toThrow(/model\.layers\.0\.mlp\.gate_proj\.weight.*shape/);
    const cut = fresh();
    const file = path.join(cut, 'model.safetensors');
    truncateSync(file, Math.floor(readFileSync(file).length / 2));
    await expect(loadModel(cut, { lazyWeights: true })).rejects.toThrow(/model\.safetensors.*(truncated|corrupt)/);
  });
});
