/**
 * Self-tests of the test helpers: the float64 HF reference forward (tests/helpers/reference-forward.ts),
 * the tiny random HF model writer (tests/helpers/tiny-model.ts) and the safetensors codec.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hfToGguf, readGgufMetadata } from '../helpers/gguf.js';
import { runLlamaCpp } from '../helpers/llama-cpp.js';
import {
  ALL_LORA_TARGETS,
  loadReferenceModel,
  loraModulePath,
  makeRandomLora,
  normalizeLoraKey,
  referenceBatchLoss,
  referenceForward,
  referenceGreedy,
  referenceLoraGrads,
  referenceLoss,
  ropeInvFreq,
  type ReferenceLora,
  type ReferenceModel,
} from '../helpers/reference-forward.js';
import {
  bf16BitsToF64,
  f16BitsToF64,
  f64ToBf16Bits,
  f64ToF16Bits,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
} from '../helpers/safetensors.js';
import { STORIES260K_GGUF, STORIES260K_HF_DIR, type TinyArch, writeTinyModel } from '../helpers/tiny-model.js';

const fixture = JSON.parse(readFileSync(new URL('../helpers/fixtures/stories260K-greedy.json', import.meta.url), 'utf8')) as {
  prompt: string;
  promptIds: number[];
  greedyIds: number[];
  text: string;
  logitsRow0Slice: { values: number[] };
  lastPromptPositionTop5: { id: number; logit: number }[];
};

let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'attune-helpers-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * Largest |log p_ref - log p_cpp| over tokens llama.cpp gives a probability above 1e-6 (smaller
 * ones lose their digits in llama.cpp's float32 probabilities).
 */
function logProbDiff(logits: Float64Array, cppLogProbs: Float64Array, V: number): number {
  let worst = 0;
  for (let t = 0; t * V < logits.length; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    const max = Math.max(...row);
    let z = 0;
    for (const x of row) z += Math.exp(x - max);
    const lse = max + Math.log(z);
    for (let i = 0; i < V; i++) {
      const c = cppLogProbs[t * V + i]!;
      if (c > Math.log(1e-6)) worst = Math.max(worst, Math.abs(row[i]! - lse - c));
    }
  }
  return worst;
}

function rowStd(logits: Float64Array, V: number, t: number): number {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < V; i++) {
    const x = logits[t * V + i]!;
    s += x;
    s2 += x * x;
  }
  return Math.sqrt(s2 / V - (s / V) ** 2);
}

// ───────────────────────────── (a) stories260K ─────────────────────────────

describe('reference forward on stories260K-hf', () => {
  let model: ReferenceModel;
  let tokenizer: Tokenizer;
  beforeAll(() => {
    model = loadReferenceModel(STORIES260K_HF_DIR);
    tokenizer = new Tokenizer(
      JSON.parse(readFileSync(join(STORIES260K_HF_DIR, 'tokenizer.json'), 'utf8')) as object,
      JSON.parse(readFileSync(join(STORIES260K_HF_DIR, 'tokenizer_config.json'), 'utf8')) as object,
    );
  });

  it('tokenizes the prompt with BOS', () => {
    expect(tokenizer.encode(fixture.prompt).ids).toEqual(fixture.promptIds);
    expect(fixture.promptIds[0]).toBe(1);
  });

  it('greedy decoding gives the recorded fluent TinyStories continuation', () => {
    const ids = referenceGreedy(model, fixture.promptIds, 20);
    expect(ids).toEqual(fixture.greedyIds);
    const text = tokenizer.decode([...fixture.promptIds, ...ids], { skip_special_tokens: true });
    expect(text).toBe(fixture.text);
    expect(text).toMatch(/^Once upon a time, there was a little girl named Lily\. She loved to play/);
  });

  it('reproduces the recorded logits', () => {
    const logits = referenceForward(model, fixture.promptIds);
    const V = model.config.vocab;
    expect(maxAbsDiff(logits.slice(0, fixture.logitsRow0Slice.values.length), fixture.logitsRow0Slice.values)).toBeLessThan(1e-9);
    const last = (fixture.promptIds.length - 1) * V;
    for (const { id, logit } of fixture.lastPromptPositionTop5) expect(Math.abs(logits[last + id]! - logit)).toBeLessThan(1e-9);
  });

  it('agrees with llama.cpp (node-llama-cpp, F32 KV cache) on tokens, greedy ids and logits', async () => {
    const all = [...fixture.promptIds, ...fixture.greedyIds];
    const greedy = await runLlamaCpp(STORIES260K_GGUF, fixture.promptIds, 20, fixture.prompt);
    expect([1, ...greedy.tokenizedText!]).toEqual(fixture.promptIds);
    expect(greedy.greedyIds).toEqual(fixture.greedyIds);
    const cpp = await runLlamaCpp(STORIES260K_GGUF, all, 0);
    expect(cpp.vocab).toBe(512);
    // README of stories260K-hf: HF float64 vs llama.cpp float32 agree within ~5e-5.
    expect(logProbDiff(referenceForward(model, all), cpp.logProbs, cpp.vocab)).toBeLessThan(1e-4);
  });
});

// ───────────────────────────── safetensors codec ─────────────────────────────

describe('safetensors codec', () => {
  it('encodes F16 with round-to-nearest-even', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // tie -> even (0)
      [3 * 2 ** -25, 0x0002], // tie -> even (2)
      [2 ** -14, 0x0400],
      [1 + 2 ** -11, 0x3c00], // tie -> even
      [1 + 3 * 2 ** -11, 0x3c02], // tie -> even (up)
      [1 + 2 ** -11 + 2 ** -30, 0x3c01],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    for (const [v, bits] of cases) expect(f64ToF16Bits(v), `f16(${v})`).toBe(bits);
    expect(Number.isNaN(f16BitsToF64(f64ToF16Bits(NaN)))).toBe(true);
    for (let h = 0; h < 0x7c00; h += 7) expect(f64ToF16Bits(f16BitsToF64(h))).toBe(h);
  });

  it('encodes BF16 with round-to-nearest-even from float32', () => {
    const cases: [number, number][] = [
      [1, 0x3f80],
      [-1, 0xbf80],
      [Math.PI, 0x4049],
      [1 + 2 ** -8, 0x3f80], // tie -> even
      [1 + 3 * 2 ** -8, 0x3f82], // tie -> even (up)
      [1 + 2 ** -8 + 2 ** -20, 0x3f81],
      [0.1, 0x3dcd],
    ];
    for (const [v, bits] of cases) expect(f64ToBf16Bits(v), `bf16(${v})`).toBe(bits);
    expect(bf16BitsToF64(0x3f80)).toBe(1);
  });

  it('writes an 8-byte aligned, space-padded header and reads back what it wrote', () => {
    const path = join(tmp, 'codec.safetensors');
    writeSafetensors(path, [
      { name: 'a', dtype: 'F32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6.5] },
      { name: 'b', dtype: 'F16', shape: [3], data: [0.1, -2, 65504] },
      { name: 'c', dtype: 'BF16', shape: [1, 1], data: [Math.PI] },
    ]);
    const bytes = readFileSync(path);
    const { headerLength, header } = readSafetensorsHeader(path);
    expect((8 + headerLength) % 8).toBe(0);
    expect(bytes.subarray(8, 8 + headerLength).toString('utf8')).toMatch(/\} *$/);
    expect(header['__metadata__']).toEqual({ format: 'pt' });
    expect(header['a']).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    expect(header['b']).toEqual({ dtype: 'F16', shape: [3], data_offsets: [24, 30] });
    expect(header['c']).toEqual({ dtype: 'BF16', shape: [1, 1], data_offsets: [30, 32] });
    expect(bytes.length).toBe(8 + headerLength + 32);
    const t = readSafetensors(path);
    expect([...t.get('a')!.data]).toEqual([1, 2, 3, 4, 5, 6.5]);
    expect([...t.get('b')!.data]).toEqual([f16BitsToF64(0x2e66), -2, 65504]);
    expect(t.get('c')!.data[0]).toBe(bf16BitsToF64(0x4049));
  });
});

// ───────────────────────────── (b) tiny models ─────────────────────────────

describe('tiny random models', () => {
  const ids = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315];
  const archs: TinyArch[] = ['llama', 'mistral', 'qwen2', 'qwen3'];

  it.each(archs)('%s: HF config + tensor names, finite non-flat causal logits', (arch) => {
    const dir = join(tmp, `tiny-${arch}`);
    const info = writeTinyModel(dir, arch, { seed: 7 });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg['model_type']).toBe(arch);
    expect(cfg['vocab_size']).toBe(512);
    expect(JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8'))).toMatchObject({ bos_token_id: 1, eos_token_id: 2 });
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
      expect(readFileSync(join(dir, f), 'utf8')).toBe(readFileSync(join(STORIES260K_HF_DIR, f), 'utf8'));
    }
    const names = new Set(info.tensorNames);
    expect(names.has('model.layers.1.self_attn.q_proj.bias')).toBe(arch === 'qwen2');
    expect(names.has('model.layers.1.self_attn.v_proj.bias')).toBe(arch === 'qwen2');
    expect(names.has('model.layers.1.self_attn.o_proj.bias')).toBe(false);
    expect(names.has('model.layers.1.self_attn.q_norm.weight')).toBe(arch === 'qwen3');
    expect(names.has('lm_head.weight')).toBe(!info.dims.tie);
    if (arch === 'qwen3') expect(cfg['head_dim']).not.toBe((cfg['hidden_size'] as number) / (cfg['num_attention_heads'] as number));
    if (arch === 'llama') expect(cfg).toMatchObject({ attention_bias: false, mlp_bias: false });
    if (arch === 'mistral') expect(cfg['sliding_window']).toBeNull();

    const m = loadReferenceModel(dir);
    const V = m.config.vocab;
    const logits = referenceForward(m, ids);
    expect(logits.length).toBe(ids.length * V);
    expect(logits.every(Number.isFinite)).toBe(true);
    for (let t = 0; t < ids.length; t++) expect(rowStd(logits, V, t)).toBeGreaterThan(0.3);
    expect(maxAbsDiff(logits.slice(V * 3, V * 4), logits.slice(V * 4, V * 5))).toBeGreaterThan(0.1);
    // causal: a prefix gives the same rows
    expect(maxAbsDiff(referenceForward(m, ids.slice(0, 5)), logits.slice(0, 5 * V))).toBeLessThan(1e-12);
  });

  it('F16 and BF16 variants are close to F32; sharded equals unsharded exactly', () => {
    const opts = { seed: 11, hidden: 32, heads: 4, kvHeads: 2 } as const;
    for (const arch of ['llama', 'qwen3'] as const) {
      const f32 = referenceForward(loadReferenceModel(writeTinyModel(join(tmp, `${arch}-f32`), arch, opts).dir), ids);
      const f16 = referenceForward(loadReferenceModel(writeTinyModel(join(tmp, `${arch}-f16`), arch, { ...opts, dtype: 'F16' }).dir), ids);
      const bf16 = referenceForward(loadReferenceModel(writeTinyModel(join(tmp, `${arch}-bf16`), arch, { ...opts, dtype: 'BF16' }).dir), ids);
      const dF16 = maxAbsDiff(f32, f16);
      const dBf16 = maxAbsDiff(f32, bf16);
      expect(dF16).toBeGreaterThan(0);
      expect(dF16).toBeLessThan(0.02);
      expect(dBf16).toBeGreaterThan(dF16);
      expect(dBf16).toBeLessThan(0.2);
      const info = writeTinyModel(join(tmp, `${arch}-sharded`), arch, { ...opts, sharded: true });
      expect(info.files).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
      const index = JSON.parse(readFileSync(join(info.dir, 'model.safetensors.index.json'), 'utf8')) as {
        metadata: { total_size: number };
        weight_map: Record<string, string>;
      };
      expect(Object.keys(index.weight_map).sort()).toEqual([...info.tensorNames].sort());
      expect(new Set(Object.values(index.weight_map)).size).toBe(2);
      expect(referenceForward(loadReferenceModel(info.dir), ids)).toEqual(f32);
    }
  });

  it('llama3 rope scaling: HF inverse frequencies and a changed forward', () => {
    const scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
    const { invFreq } = ropeInvFreq(8, 10000, scaling);
    // head_dim 8: base inv_freq 1, 0.1, 0.01, 0.001 -> wavelengths 6.3 (high: kept), 62.8 (medium:
    // smoothed), 628 and 6283 (low: divided by factor 8).
    const smooth = (64 / ((2 * Math.PI) / 0.1) - 1) / 3;
    const expected = [1, (1 - smooth) * (0.1 / 8) + smooth * 0.1, 0.01 / 8, 0.001 / 8];
    expect(maxAbsDiff(invFreq, expected)).toBeLessThan(1e-15);
    const opts = { seed: 5, hidden: 32, heads: 4, kvHeads: 2, headDim: 8 } as const;
    const plain = referenceForward(writeTinyModel(join(tmp, 'rope-plain'), 'llama', opts).dir, ids);
    const scaledDir = writeTinyModel(join(tmp, 'rope-llama3'), 'llama', { ...opts, ropeScaling: 'llama3' }).dir;
    const cfg = JSON.parse(readFileSync(join(scaledDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg['rope_scaling']).toEqual(scaling);
    const scaled = referenceForward(scaledDir, ids);
    const V = 512;
    expect(maxAbsDiff(plain.slice(0, V), scaled.slice(0, V))).toBeLessThan(1e-12); // position 0: no rotation
    expect(maxAbsDiff(plain, scaled)).toBeGreaterThan(1e-3);
  });
});

describe('tiny random models agree with llama.cpp (via hfToGguf)', () => {
  // 48 positions: enough for RoPE's low/medium frequencies (and llama3 scaling) to matter.
  const ids = Array.from({ length: 48 }, (_, i) => (i * 37 + 1) % 512);
  const cases: [string, TinyArch, Parameters<typeof writeTinyModel>[2]][] = [
    ['llama, GQA 4:2, untied', 'llama', {}],
    ['llama, llama3 rope scaling, head_dim 8', 'llama', { hidden: 32, heads: 4, kvHeads: 2, headDim: 8, ropeScaling: 'llama3' }],
    ['llama, tied, BF16', 'llama', { tie: true, dtype: 'BF16' }],
    ['mistral', 'mistral', {}],
    ['qwen2 (q/k/v bias), tied', 'qwen2', {}],
    ['qwen3 (q/k norm, head_dim 16 != hidden/heads), tied', 'qwen3', {}],
    ['qwen3, MQA, untied, F16', 'qwen3', { kvHeads: 1, tie: false, dtype: 'F16' }],
  ];
  it.each(cases)('%s', async (label, arch, opts) => {
    const dir = join(tmp, `cpp-${label.replace(/\W+/g, '-')}`);
    writeTinyModel(dir, arch, { seed: 21, ...opts });
    const gguf = join(dir, 'model.gguf');
    hfToGguf(dir, gguf);
    expect(readGgufMetadata(gguf).get('general.architecture')?.value).toBe(arch === 'mistral' ? 'llama' : arch);
    const ref = referenceForward(dir, ids);
    const cpp = await runLlamaCpp(gguf, ids, 0);
    expect(cpp.vocab).toBe(512);
    expect(logProbDiff(ref, cpp.logProbs, cpp.vocab)).toBeLessThan(2e-5);
  });
});

// ───────────────────────────── (c) loss and LoRA gradients ─────────────────────────────

describe('loss convention and LoRA gradients', () => {
  const ids = [1, 403, 407, 261, 378, 432, 383, 286];
  const mask = [0, 0, 0, 1, 1, 1, 0, 1];
  let m: ReferenceModel;
  beforeAll(() => {
    m = loadReferenceModel(writeTinyModel(join(tmp, 'lora-llama'), 'llama', { seed: 3, hidden: 16, layers: 2, heads: 2, kvHeads: 1, headDim: 8, ffn: 32 }).dir);
  });

  it('loss: mask[t]=1 scores token t against the logits of position t-1, token mean', () => {
    const V = m.config.vocab;
    const logits = referenceForward(m, ids);
    let sum = 0;
    let n = 0;
    for (let t = 1; t < ids.length; t++) {
      if (!mask[t]) continue;
      const row = logits.slice((t - 1) * V, t * V);
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0));
      sum += lse - row[ids[t]!]!;
      n++;
    }
    expect(referenceLoss(m, ids, mask)).toBeCloseTo(sum / n, 12);
    expect(() => referenceLoss(m, ids, [1, 0, 0, 0, 0, 0, 0, 1])).toThrow(/lossMask\[0\]/);
    // batch = token mean over all targets
    const a = { tokenIds: ids, lossMask: mask };
    const b = { tokenIds: ids.slice(0, 5), lossMask: [0, 1, 0, 0, 1] };
    const la = referenceLoss(m, a.tokenIds, a.lossMask);
    const lb = referenceLoss(m, b.tokenIds, b.lossMask);
    const batch = referenceBatchLoss(m, [a, b]);
    expect(batch.count).toBe(6);
    expect(batch.loss).toBeCloseTo((la * 4 + lb * 2) / 6, 12);
  });

  it('LoRA: W + (alpha/rank) B A, key aliases, loraScale 0 = base', () => {
    const lora = makeRandomLora(m, { rank: 2, alpha: 4, targets: ALL_LORA_TARGETS, seed: 1 });
    const base = referenceForward(m, ids);
    const tuned = referenceForward(m, ids, { lora });
    expect(maxAbsDiff(base, tuned)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(base, referenceForward(m, ids, { lora: { ...lora, loraScale: 0 } }))).toBe(0);
    // alias keys: PEFT and GGUF names give the same result
    const peft: ReferenceLora = {
      ...lora,
      A: new Map([...lora.A].map(([k, v]) => [`base_model.model.${k}.lora_A.weight`, v])),
      B: new Map([...lora.B].map(([k, v]) => [`base_model.model.${k}.lora_B.weight`, v])),
    };
    expect(referenceForward(m, ids, { lora: peft })).toEqual(tuned);
    expect(normalizeLoraKey('blk.1.attn_output')).toBe('model.layers.1.self_attn.o_proj');
    expect(normalizeLoraKey('blk.0.ffn_down.weight')).toBe('model.layers.0.mlp.down_proj');
    // merging by hand into a copy of the base weights reproduces the forward
    const s = 4 / 2;
    const merged: ReferenceModel = { ...m, weights: new Map(m.weights) };
    for (const [path, A] of lora.A) {
      const B = lora.B.get(path)!;
      const [out, inn] = m.shapes.get(`${path}.weight`)!;
      const W = Float64Array.from(m.weights.get(`${path}.weight`)!);
      for (let o = 0; o < out!; o++)
        for (let i = 0; i < inn!; i++) for (let r = 0; r < 2; r++) W[o * inn! + i] += s * B[o * 2 + r]! * A[r * inn! + i]!;
      merged.weights.set(`${path}.weight`, W);
    }
    expect(maxAbsDiff(referenceForward(merged, ids), tuned)).toBeLessThan(1e-12);
    // a missing module or a non-targeted key is an error
    const partial = { ...lora, A: new Map(lora.A) };
    partial.A.delete(loraModulePath(1, 'up'));
    expect(() => referenceForward(m, ids, { lora: partial })).toThrow(/missing/);
    expect(() => referenceForward(m, ids, { lora: { ...lora, targets: ['q'] } })).toThrow(/not a targeted/);
  });

  it('finite-difference LoRA grads match directional derivatives, scaling invariance and the chain rule', () => {
    const lora = makeRandomLora(m, { rank: 2, alpha: 4, targets: ALL_LORA_TARGETS, seed: 2 });
    const g = referenceLoraGrads(m, ids, mask, lora);
    expect(g.count).toBe(4);
    expect(g.loss).toBeCloseTo(referenceLoss(m, ids, mask, lora), 12);

    // 1. directional derivative along a random unit direction, for two step sizes
    const keys = [...lora.A.keys()];
    let seed = 12345;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const dA = new Map(keys.map((k) => [k, lora.A.get(k)!.map(() => rnd())]));
    const dB = new Map(keys.map((k) => [k, lora.B.get(k)!.map(() => rnd())]));
    let norm2 = 0;
    for (const k of keys) for (const arr of [dA.get(k)!, dB.get(k)!]) for (const x of arr) norm2 += x * x;
    const inv = 1 / Math.sqrt(norm2);
    let gd = 0;
    for (const k of keys) {
      dA.get(k)!.forEach((x, i) => (gd += g.gradA.get(k)![i]! * x * inv));
      dB.get(k)!.forEach((x, i) => (gd += g.gradB.get(k)![i]! * x * inv));
    }
    const shifted = (h: number): ReferenceLora => ({
      ...lora,
      A: new Map(keys.map((k) => [k, lora.A.get(k)!.map((x, i) => x + h * inv * dA.get(k)![i]!)])),
      B: new Map(keys.map((k) => [k, lora.B.get(k)!.map((x, i) => x + h * inv * dB.get(k)![i]!)])),
    });
    expect(Math.abs(gd)).toBeGreaterThan(1e-2);
    const errs: number[] = [];
    for (const h of [1e-3, 1e-4]) {
      const fd = (referenceLoss(m, ids, mask, shifted(h)) - referenceLoss(m, ids, mask, shifted(-h))) / (2 * h);
      errs.push(Math.abs(fd - gd));
    }
    expect(errs[0]!).toBeLessThan(1e-5 * Math.abs(gd));
    expect(errs[1]!).toBeLessThan(1e-7 * Math.abs(gd));

    // 2. L depends on (A, B) only through B A: d/dc L(cA, B/c) = 0  =>  <A, dA> = <B, dB> per module
    for (const k of keys) {
      let a = 0;
      let b = 0;
      lora.A.get(k)!.forEach((x, i) => (a += x * g.gradA.get(k)![i]!));
      lora.B.get(k)!.forEach((x, i) => (b += x * g.gradB.get(k)![i]!));
      expect(Math.abs(a - b), k).toBeLessThan(1e-8 * Math.max(1, Math.abs(a)));
    }

    // 3. chain rule: dA = s Bᵀ dW, dB = s dW Aᵀ with dW = dL/dW_eff (finite differences on W_eff)
    const path = loraModulePath(1, 'v');
    const wName = `${path}.weight`;
    const [out, inn] = m.shapes.get(wName)!;
    const s = 4 / 2;
    const A = lora.A.get(path)!;
    const B = lora.B.get(path)!;
    const Weff = Float64Array.from(m.weights.get(wName)!);
    for (let o = 0; o < out!; o++) for (let i = 0; i < inn!; i++) for (let r = 0; r < 2; r++) Weff[o * inn! + i] += s * B[o * 2 + r]! * A[r * inn! + i]!;
    const others: ReferenceLora = {
      ...lora,
      targets: ALL_LORA_TARGETS,
      A: new Map(lora.A),
      B: new Map(lora.B),
    };
    // keep the other adapters, zero this one (its effect now lives in Weff)
    others.A.set(path, new Float64Array(A.length));
    others.B.set(path, new Float64Array(B.length));
    const withW = (W: Float64Array): ReferenceModel => ({ ...m, weights: new Map(m.weights).set(wName, W) });
    const dW = new Float64Array(Weff.length);
    const eps = 1e-5;
    for (let j = 0; j < Weff.length; j++) {
      const p = Float64Array.from(Weff);
      p[j] += eps;
      const q = Float64Array.from(Weff);
      q[j] -= eps;
      dW[j] = (referenceLoss(withW(p), ids, mask, others) - referenceLoss(withW(q), ids, mask, others)) / (2 * eps);
    }
    for (let r = 0; r < 2; r++)
      for (let i = 0; i < inn!; i++) {
        let acc = 0;
        for (let o = 0; o < out!; o++) acc += s * B[o * 2 + r]! * dW[o * inn! + i]!;
        expect(Math.abs(g.gradA.get(path)![r * inn! + i]! - acc)).toBeLessThan(1e-8);
      }
    for (let o = 0; o < out!; o++)
      for (let r = 0; r < 2; r++) {
        let acc = 0;
        for (let i = 0; i < inn!; i++) acc += s * dW[o * inn! + i]! * A[r * inn! + i]!;
        expect(Math.abs(g.gradB.get(path)![o * 2 + r]! - acc)).toBeLessThan(1e-8);
      }
  });

  it('PEFT init (B = 0): dL/dA is exactly 0, dL/dB is not; batch grads work', () => {
    const lora = makeRandomLora(m, { rank: 2, alpha: 16, targets: ['q', 'v'], seed: 4, stdB: 0 });
    const g = referenceLoraGrads(m, [ids, ids.slice(0, 6)], [mask, [0, 1, 1, 0, 0, 1]], lora);
    expect(g.count).toBe(7);
    for (const v of g.gradA.values()) expect(v.every((x) => x === 0)).toBe(true);
    let n = 0;
    for (const v of g.gradB.values()) for (const x of v) n += x * x;
    expect(Math.sqrt(n)).toBeGreaterThan(1e-3);
    expect([...g.gradB.keys()]).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.v_proj',
      'model.layers.1.self_attn.q_proj',
      'model.layers.1.self_attn.v_proj',
    ]);
  });
});
