import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { metaValue, readGguf } from '../../../src/engine/weights/gguf.js';
import { llama3RopeFactors, readGgufModel, writeGgufModel, type FloatTensor } from '../../../src/engine/weights/gguf-model.js';
import { tokenizerFromGguf, tokenizerToGgufMetadata } from '../../../src/engine/weights/gguf-tokenizer.js';
import { readSafetensors, tensorToFloat32 } from '../../../src/engine/weights/safetensors.js';
import { GGUF_FILE, HF_DIR, tempDir } from './fixtures.js';

const STRINGS = [
  'Once upon a time', 'Once upon a time, there was a little girl named Lily.', '', ' ', '  two  spaces  ',
  'Hello\nworld\n\n', 'tab\there', '### Instruction:\nTell a story.\n\n### Response:\n', '<s>hi</s>\n\n',
  'The cat sat on the mat.', 'He said, "No!" and ran away...', '1234567890', '3.14159 + 2 = 5.14',
  'naïve café résumé', 'Zürich Straße', '日本語のテキスト', 'Привет, мир', 'emoji 😀🚀👍🏽', 'a\u2581b',
  'UPPER lower MiXeD', "it's don't we'll", '{"json": [1, 2]}', 'email@example.com', 'https://x.y/z?q=1',
  'x'.repeat(50), '\u00a0nbsp', 'end.', '....', '!!??', 'Tom and Tim were friends. They liked to play.',
];

async function hfFolder() {
  const st = await readSafetensors(join(HF_DIR, 'model.safetensors'));
  const tensors = new Map<string, FloatTensor>();
  for (const [k, t] of st.tensors) tensors.set(k, { data: tensorToFloat32(t), shape: t.shape });
  const json = async (f: string) => JSON.parse(await readFile(join(HF_DIR, f), 'utf8'));
  return { tensors, config: await json('config.json'), tokenizerJson: await json('tokenizer.json'), tokenizerConfig: await json('tokenizer_config.json') };
}

describe('GGUF model <-> HF form', () => {
  it('reads stories260K.gguf into the same tensors, config and tokenizer as the HF folder', async () => {
    const [m, hf] = await Promise.all([readGgufModel(GGUF_FILE), hfFolder()]);
    expect([...m.tensors.keys()].sort()).toEqual([...hf.tensors.keys()].sort());
    for (const [k, t] of hf.tensors) {
      expect(m.tensors.get(k)!.shape).toEqual(t.shape);
      expect(Buffer.from(m.tensors.get(k)!.data.buffer).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), k).toBe(true);
    }
    for (const k of ['model_type', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads',
      'head_dim', 'rms_norm_eps', 'rope_theta', 'vocab_size', 'tie_word_embeddings', 'bos_token_id', 'eos_token_id', 'rope_scaling', 'architectures']) {
      expect(m.config[k], k).toEqual(hf.config[k]);
    }
    expect(m.config.max_position_embeddings).toBe(2048); // the GGUF says 2048; the HF README explains its 512
    expect(m.tokenizerJson).toEqual(hf.tokenizerJson); // identical tokenizer.json, merges included
    const a = new Tokenizer(m.tokenizerJson, m.tokenizerConfig);
    const b = new Tokenizer(hf.tokenizerJson, hf.tokenizerConfig);
    for (const s of STRINGS) expect(a.encode(s).ids, JSON.stringify(s)).toEqual(b.encode(s).ids);
    expect(a.encode('Once upon a time').ids).toEqual([1, 403, 407, 261, 378]);
  });

  it('writes stories260K from the HF folder as an F32 GGUF equal to the shipped one', async () => {
    const hf = await hfFolder();
    const file = join(await tempDir(), 'stories.gguf');
    await writeGgufModel(file, { ...hf, config: { ...hf.config, max_position_embeddings: 2048 }, type: 'F32', name: 'llama', writeTiedOutput: true });
    const [ours, orig] = await Promise.all([readGguf(file), readGguf(GGUF_FILE)]);
    expect([...ours.tensors.keys()].sort()).toEqual([...orig.tensors.keys()].sort());
    for (const [k, t] of orig.tensors) {
      const o = ours.tensors.get(k)!;
      expect([o.type.name, o.ne], k).toEqual([t.type.name, t.ne]);
      expect(Buffer.from(o.bytes).equals(Buffer.from(t.bytes)), k).toBe(true);
    }
    // Keys: every shipped key has the same value, except the documented differences below.
    const differs = new Set(['tokenizer.ggml.scores', 'tokenizer.ggml.seperator_token_id', 'tokenizer.ggml.padding_token_id']);
    for (const [k, v] of orig.metadata) {
      if (differs.has(k)) continue;
      expect(ours.metadata.get(k), k).toEqual(v);
    }
    // Added keys: what convert_hf_to_gguf.py writes too.
    const added = [...ours.metadata.keys()].filter((k) => !orig.metadata.has(k)).sort();
    expect(added).toEqual(['general.file_type', 'llama.rope.freq_base', 'llama.vocab_size', 'tokenizer.ggml.add_bos_token', 'tokenizer.ggml.add_eos_token', 'tokenizer.chat_template'].sort());
    // Scores are derived from merge order: same ranking as the shipped scores on every merge result.
    const merged = new Set((hf.tokenizerJson.model.merges as [string, string][]).map(([l, r]) => l + r));
    const toks = metaValue(orig, 'tokenizer.ggml.tokens') as string[];
    const so = metaValue(orig, 'tokenizer.ggml.scores') as number[], sn = metaValue(ours, 'tokenizer.ggml.scores') as number[];
    const ids = toks.map((_, i) => i).filter((i) => merged.has(toks[i]!));
    expect(ids.length).toBeGreaterThan(100);
    const rank = (s: number[]) => [...ids].sort((x, y) => s[y]! - s[x]! || x - y);
    expect(rank(sn)).toEqual(rank(so));
    // and the rebuilt tokenizer from our file equals the HF one
    expect(tokenizerFromGguf(ours, file).tokenizerJson).toEqual(hf.tokenizerJson);
  });

  it('quantized exports round-trip within the quantization step and keep norms F32', async () => {
    const hf = await hfFolder();
    const dir = await tempDir();
    for (const type of ['F16', 'Q8_0', 'Q4_0'] as const) {
      const file = join(dir, `${type}.gguf`);
      await writeGgufModel(file, { ...hf, type });
      const g = await readGguf(file);
      expect(metaValue(g, 'general.file_type')).toBe({ F16: 1, Q8_0: 7, Q4_0: 2 }[type]);
      expect(g.tensors.get('output_norm.weight')!.type.name).toBe('F32');
      expect(g.tensors.get('blk.0.attn_q.weight')!.type.name).toBe(type);
      expect(g.tensors.get('blk.0.ffn_down.weight')!.type.name).toBe('F16'); // rows of 172 values are no whole blocks
      expect(g.tensors.has('output.weight')).toBe(false);
      const back = await readGgufModel(file);
      const tol = { F16: 2e-3, Q8_0: 2e-2, Q4_0: 0.25 }[type];
      for (const [k, t] of hf.tensors) {
        const b = back.tensors.get(k)!.data;
        let maxErr = 0, maxAbs = 0;
        for (let i = 0; i < b.length; i++) { maxErr = Math.max(maxErr, Math.abs(b[i]! - t.data[i]!)); maxAbs = Math.max(maxAbs, Math.abs(t.data[i]!)); }
        expect(maxErr, `${type} ${k}`).toBeLessThanOrEqual(tol * maxAbs);
      }
    }
  });

  it('rejects models it cannot place, naming the tensor or field', async () => {
    const hf = await hfFolder();
    const file = join(await tempDir(), 'x.gguf');
    const extra = new Map(hf.tensors).set('model.layers.0.mlp.experts.0.weight', { data: new Float32Array(4), shape: [2, 2] });
    await expect(writeGgufModel(file, { ...hf, tensors: extra, type: 'F32' })).rejects.toThrow(/tensor model.layers.0.mlp.experts.0.weight has no llama.cpp name/);
    await expect(writeGgufModel(file, { ...hf, config: { ...hf.config, model_type: 'gemma' }, type: 'F32' })).rejects.toThrow(/model type gemma cannot be exported/);
  });

  it('llama3 RoPE scaling survives the rope_freqs round trip', async () => {
    const hf = await hfFolder();
    const scaling = { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    // head_dim 8 has too few frequencies for a transition band: use theta so the band is hit
    const config = { ...hf.config, rope_theta: 500000, rope_scaling: scaling };
    const f = llama3RopeFactors(scaling as never, 500000, 8);
    expect(f.some((v) => v > 1 && v < 32)).toBe(true);
    const file = join(await tempDir(), 'l3.gguf');
    await writeGgufModel(file, { ...hf, config, type: 'F32' });
    expect((await readGguf(file)).tensors.has('rope_freqs.weight')).toBe(true);
    expect((await readGgufModel(file)).config.rope_scaling).toEqual(scaling);
  });
});

describe('byte-level BPE (gpt2) tokenizers', () => {
  // A tiny hand-made byte-level vocabulary: every byte symbol plus a few merges.
  const bytesToUnicode = (): string[] => {
    const bs: number[] = [];
    for (let b = 33; b <= 126; b++) bs.push(b);
    for (let b = 161; b <= 172; b++) bs.push(b);
    for (let b = 174; b <= 255; b++) bs.push(b);
    const map: string[] = new Array(256);
    let n = 0;
    for (let b = 0; b < 256; b++) map[b] = String.fromCodePoint(bs.includes(b) ? b : 256 + n++);
    return map;
  };
  const base = bytesToUnicode();
  const merges = ['Ġ t', 'h e', 'Ġt he', 'Ġ a', '1 2'];
  const tokens = [...base, 'Ġt', 'he', 'Ġthe', 'Ġa', '12', '<|endoftext|>', '<think>'];
  const types = tokens.map((_, i) => (i === tokens.length - 2 ? 3 : i === tokens.length - 1 ? 4 : 1));

  for (const pre of ['llama-bpe', 'qwen2', 'smollm', 'gpt-2']) {
    it(`rebuilds a ${pre} tokenizer that encodes as byte-level BPE and exports back`, () => {
      const g = { metadata: new Map<string, never>() } as unknown as Parameters<typeof tokenizerFromGguf>[0];
      const set = (k: string, v: unknown) => g.metadata.set(k, v as never);
      set('general.architecture', { type: 'STRING', value: 'qwen2' });
      set('tokenizer.ggml.model', { type: 'STRING', value: 'gpt2' });
      set('tokenizer.ggml.pre', { type: 'STRING', value: pre });
      set('tokenizer.ggml.tokens', { type: 'ARRAY', itemType: 'STRING', value: tokens });
      set('tokenizer.ggml.token_type', { type: 'ARRAY', itemType: 'INT32', value: types });
      set('tokenizer.ggml.merges', { type: 'ARRAY', itemType: 'STRING', value: merges });
      set('tokenizer.ggml.eos_token_id', { type: 'UINT32', value: 261 });
      set('tokenizer.ggml.bos_token_id', { type: 'UINT32', value: 261 });
      const { tokenizerJson, tokenizerConfig } = tokenizerFromGguf(g, 'm.gguf');
      const tk = new Tokenizer(tokenizerJson, tokenizerConfig);
      const id = (t: string) => tokens.indexOf(t);
      const bos = pre === 'llama-bpe' ? [261] : [];
      expect(tk.encode('the a<|endoftext|>').ids).toEqual([...bos, id('t'), id('he'), id('Ġa'), 261]);
      expect(tk.encode(' the').ids).toEqual([...bos, id('Ġthe')]);
      // digits: qwen2 (\p{N}) and smollm (Digits) split each digit; llama3 groups up to 3, gpt-2 keeps runs
      expect(tk.encode('12').ids).toEqual([...bos, ...(pre === 'smollm' || pre === 'qwen2' ? [id('1'), id('2')] : [id('12')])]);
      expect(tk.decode(tk.encode(' the a').ids, { skip_special_tokens: true })).toBe(' the a');
      const kv = new Map(tokenizerToGgufMetadata(tokenizerJson, tokenizerConfig, 'm.gguf'));
      expect(kv.get('tokenizer.ggml.pre')!.value).toBe(pre);
      expect(kv.get('tokenizer.ggml.merges')!.value).toEqual(merges);
      expect(kv.get('tokenizer.ggml.token_type')!.value).toEqual(types);
    });
  }

  it('names an unknown pre-tokenizer', () => {
    const g = { metadata: new Map() } as unknown as Parameters<typeof tokenizerFromGguf>[0];
    g.metadata.set('tokenizer.ggml.model', { type: 'STRING', value: 'gpt2' });
    g.metadata.set('tokenizer.ggml.pre', { type: 'STRING', value: 'deepseek-v3' });
    g.metadata.set('tokenizer.ggml.tokens', { type: 'ARRAY', itemType: 'STRING', value: ['a'] });
    expect(() => tokenizerFromGguf(g, 'm.gguf')).toThrow(/pre-tokenizer is "deepseek-v3", which Attune cannot rebuild yet/);
  });
});
