/**
 * Errors name tensors as the user's file does (issue #13.3): a Hugging Face folder's messages say
 * `model.layers.0.self_attn.q_proj.weight`, a GGUF file's `blk.0.ffn_gate.weight`, never the other
 * spelling. The canonical (llama.cpp) names stay inside the engine.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAttuneError } from '../../../src/shared/errors.js';
import { loadModel } from '../../../src/engine/models/load.js';
import { readGgufModel, writeGgufModel } from '../../../src/engine/weights/gguf-model.js';
import { readSafetensors, writeSafetensors } from '../../helpers/safetensors.js';
import { STORIES260K_GGUF, writeTinyModel } from '../../helpers/tiny-model.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-names-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

async function failure(p: Promise<unknown>): Promise<{ message: string; field?: string }> {
  try {
    await p;
  } catch (e) {
    if (isAttuneError(e)) return { message: e.message, field: e.details.field };
    throw e;
  }
  throw new Error('expected the load to fail');
}

function hfFolder(edit: (dir: string) => void): string {
  const dir = path.join(tmp, `hf${n++}`);
  writeTinyModel(dir, 'llama', { seed: 3 });
  edit(dir);
  return dir;
}

describe('a Hugging Face folder: messages use its own tensor names', () => {
  it('a wrong-shaped q_proj is named model.layers.0.self_attn.q_proj.weight', async () => {
    const dir = hfFolder((d) => {
      const file = path.join(d, 'model.safetensors');
      const tensors = readSafetensors(file);
      const q = tensors.get('model.layers.0.self_attn.q_proj.weight')!;
      const half = q.shape[1]! / 2;
      tensors.set('model.layers.0.self_attn.q_proj.weight', { ...q, shape: [q.shape[0]!, half], data: q.data.subarray(0, q.shape[0]! * half) });
      writeSafetensors(file, [...tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data })));
    });
    for (const lazyWeights of [false, true]) {
      const f = await failure(loadModel(dir, { lazyWeights }));
      expect(f.message).toContain('"model.layers.0.self_attn.q_proj.weight" has shape [32,16] but config.json implies [32,32]');
      expect(f.field).toBe('model.layers.0.self_attn.q_proj.weight');
      expect(f.message).not.toMatch(/blk\.|attn_q/);
    }
  });

  it('a vocabulary mismatch is named model.embed_tokens.weight, with the two sizes', async () => {
    const dir = hfFolder((d) => {
      const cfg = JSON.parse(readFileSync(path.join(d, 'config.json'), 'utf8'));
      cfg.vocab_size = 600;
      writeFileSync(path.join(d, 'config.json'), JSON.stringify(cfg));
    });
    const f = await failure(loadModel(dir));
    expect(f.message).toContain('"model.embed_tokens.weight" has shape [512,32] but config.json implies [600,32] (512 tokens, but config.json says the vocabulary has 600)');
    expect(f.message).not.toContain('token_embd');
  });

  it('a weight asked for but absent is named as the folder would name it', async () => {
    const dir = hfFolder(() => undefined);
    const model = await loadModel(dir, { lazyWeights: true });
    expect(() => model.weights.get('blk.9.attn_q.weight')).toThrow('"model.layers.9.self_attn.q_proj.weight" is missing');
  });
});

describe('a GGUF file: messages use GGUF names', () => {
  it('a wrong-shaped ffn_gate is named blk.0.ffn_gate.weight', async () => {
    const g = await readGgufModel(STORIES260K_GGUF);
    const gate = g.tensors.get('model.layers.0.mlp.gate_proj.weight')!;
    const rows = gate.shape[0]! - 4;
    g.tensors.set('model.layers.0.mlp.gate_proj.weight', { shape: [rows, gate.shape[1]!], data: gate.data.slice(0, rows * gate.shape[1]!) });
    const file = path.join(tmp, 'bad.gguf');
    await writeGgufModel(file, { config: g.config, tensors: g.tensors, tokenizerJson: g.tokenizerJson, tokenizerConfig: g.tokenizerConfig, type: 'F32' });
    const f = await failure(loadModel(file));
    expect(f.message).toMatch(/"blk\.0\.ffn_gate\.weight" has shape \[\d+,\d+\] but the file's metadata implies/);
    expect(f.field).toBe('blk.0.ffn_gate.weight');
    expect(f.message).not.toContain('gate_proj');
  });
});
