import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GGUF_ARCHS, archByGguf } from '../../../src/engine/weights/gguf-arch.js';
import { ggufTensorToFloat32, readGguf } from '../../../src/engine/weights/gguf.js';
import { readSafetensors, tensorToFloat32 } from '../../../src/engine/weights/safetensors.js';
import { canonicalToHf, hfToCanonical, permuteQK, unpermuteQK } from '../../../src/engine/weights/tensor-names.js';
import { GGUF_FILE, HF_DIR, randomFloats } from './fixtures.js';

describe('canonical tensor names', () => {
  it('maps HF names to llama.cpp names and back', () => {
    const pairs: [string, string][] = [
      ['model.embed_tokens.weight', 'token_embd.weight'],
      ['model.norm.weight', 'output_norm.weight'],
      ['lm_head.weight', 'output.weight'],
      ['model.layers.12.input_layernorm.weight', 'blk.12.attn_norm.weight'],
      ['model.layers.0.self_attn.q_proj.bias', 'blk.0.attn_q.bias'],
      ['model.layers.3.self_attn.k_proj.weight', 'blk.3.attn_k.weight'],
      ['model.layers.3.self_attn.v_proj.bias', 'blk.3.attn_v.bias'],
      ['model.layers.3.self_attn.o_proj.weight', 'blk.3.attn_output.weight'],
      ['model.layers.3.self_attn.q_norm.weight', 'blk.3.attn_q_norm.weight'],
      ['model.layers.3.self_attn.k_norm.weight', 'blk.3.attn_k_norm.weight'],
      ['model.layers.3.post_attention_layernorm.weight', 'blk.3.ffn_norm.weight'],
      ['model.layers.3.mlp.gate_proj.weight', 'blk.3.ffn_gate.weight'],
      ['model.layers.3.mlp.up_proj.weight', 'blk.3.ffn_up.weight'],
      ['model.layers.3.mlp.down_proj.weight', 'blk.3.ffn_down.weight'],
    ];
    for (const [hf, c] of pairs) {
      expect(hfToCanonical(hf)).toBe(c);
      expect(canonicalToHf(c)).toBe(hf);
    }
    for (const bad of ['model.layers.x.mlp.up_proj.weight', 'model.embed_tokens', 'blk.0.attn_q.scale', 'rope_freqs.weight', 'model.layers.0.mlp.up_proj.weightX']) {
      expect(hfToCanonical(bad)).toBeUndefined();
      expect(canonicalToHf(bad)).toBeUndefined();
    }
  });

  it('permuteQK and unpermuteQK are inverse and move rows as llama.cpp does', () => {
    const seed = 11;
    const x = randomFloats(4 * 8 * 3, seed); // 4 heads x head_dim 8, 3 columns
    const p = permuteQK(x, 4, 32, 3);
    expect(Array.from(unpermuteQK(p, 4, 32, 3))).toEqual(Array.from(x));
    expect(Array.from(p)).not.toEqual(Array.from(x));
    // head 1, GGUF row 2i+j <- HF row j*4+i: GGUF row 8+3 (i=1, j=1) holds HF row 8+5
    expect(Array.from(p.subarray(11 * 3, 12 * 3))).toEqual(Array.from(x.subarray(13 * 3, 14 * 3)));
    // a bias is a one-column matrix
    const b = Float32Array.from({ length: 8 }, (_, i) => i);
    expect(Array.from(permuteQK(b, 1, 8, 1))).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
    expect(() => permuteQK(b, 3, 8, 1)).toThrow(/do not split into 3 heads/);
  });

  it('only llama-family GGUFs are permuted; Qwen2 and Qwen3 keep HF row order', () => {
    expect(archByGguf('llama')!.permuteQK).toBe(true);
    expect(archByGguf('qwen2')!.permuteQK).toBe(false);
    expect(archByGguf('qwen3')!.permuteQK).toBe(false);
    expect(GGUF_ARCHS.find((a) => a.modelTypes.includes('mistral'))!.gguf).toBe('llama');
  });

  it("stories260K.gguf un-permuted equals the HF safetensors, tensor by tensor", async () => {
    const [g, hf] = await Promise.all([readGguf(GGUF_FILE), readSafetensors(join(HF_DIR, 'model.safetensors'))]);
    let compared = 0;
    for (const t of g.tensors.values()) {
      let data = ggufTensorToFloat32(t);
      if (t.name === 'output.weight') {
        // tied: the GGUF stores a copy of the embedding
        expect(Buffer.from(t.bytes).equals(Buffer.from(g.tensors.get('token_embd.weight')!.bytes))).toBe(true);
        continue;
      }
      if (/attn_q\.weight$/.test(t.name)) data = unpermuteQK(data, 8, t.shape[0]!, t.shape[1]!);
      if (/attn_k\.weight$/.test(t.name)) data = unpermuteQK(data, 4, t.shape[0]!, t.shape[1]!);
      const ref = hf.tensors.get(canonicalToHf(t.name)!)!;
      expect(ref.shape).toEqual(t.shape);
      expect(Buffer.from(data.buffer, data.byteOffset, data.byteLength).equals(Buffer.from(ref.bytes))).toBe(true);
      compared++;
    }
    expect(compared).toBe(47);
    // without the un-permutation q differs: the test can fail
    const rawQ = ggufTensorToFloat32(g.tensors.get('blk.0.attn_q.weight')!);
    expect(Array.from(rawQ)).not.toEqual(Array.from(tensorToFloat32(hf.tensors.get('model.layers.0.self_attn.q_proj.weight')!)));
  });
});
