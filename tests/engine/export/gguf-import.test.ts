/**
 * GGUF base models in: the shipped stories260K.gguf reads like its HF folder; K-quant files
 * (Q4_K, Q6_K, as LM Studio and Ollama ship) dequantise on load; unknown types are named.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportModel } from '../../../src/engine/export/index.js';
import { loadModel } from '../../../src/engine/models/load.js';
import { f32ToF16Bits, f16BitsToF32 } from '../../../src/engine/weights/half.js';
import { parseGguf, writeGguf, type GgufTensorToWrite } from '../../../src/engine/weights/gguf.js';
import { dequantize } from '../../../src/engine/weights/quants.js';
import { readFile } from 'node:fs/promises';
import { allLogitsSession, forwardLogits, maxAbsDiff } from '../../helpers/engine-run.js';
import { STORIES260K_GGUF, STORIES260K_HF_DIR, writeTinyModel } from '../../helpers/tiny-model.js';
import { tempDir } from './fixtures.js';

const tmp = tempDir('attune-gguf-in-');
process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function logits(modelPath: string, ids: number[], exact = false) {
  const m = await loadModel(modelPath);
  const s = await allLogitsSession(m, undefined, exact);
  const out = await forwardLogits(s, m, ids);
  await s.release();
  return { m, out };
}

const h16 = (v: number) => f32ToF16Bits(v);
const put16 = (b: Uint8Array, o: number, bits: number) => { b[o] = bits & 0xff; b[o + 1] = bits >> 8; };

/** A plain (not ggml's search-based) Q6_K quantizer: one scale per 16 values, d = max scale / 127. */
function packQ6K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 256) * 210);
  for (let blk = 0; blk < x.length / 256; blk++) {
    const v = x.subarray(blk * 256, blk * 256 + 256);
    const o = blk * 210;
    const groupScale = Array.from({ length: 16 }, (_, g) => Math.max(...Array.from(v.subarray(g * 16, g * 16 + 16), Math.abs)) / 31);
    const d = f16BitsToF32(h16(Math.max(...groupScale) / 127));
    put16(out, o + 208, h16(d));
    for (let g = 0; g < 16; g++) {
      const sc = d ? Math.min(127, Math.round(groupScale[g]! / d)) : 0;
      out[o + 192 + g] = sc & 0xff;
      for (let i = 0; i < 16; i++) {
        const p = g * 16 + i;
        const q = sc ? Math.max(-32, Math.min(31, Math.round(v[p]! / (d * sc)))) + 32 : 32;
        const half = p >> 7, r = p & 127, l = r & 31, quarter = r >> 5;
        const ql = o + half * 64 + l + (quarter & 1) * 32;
        out[ql] |= quarter < 2 ? q & 15 : (q & 15) << 4;
        out[o + 128 + half * 32 + l] |= (q >> 4) << (2 * quarter);
      }
    }
  }
  return out;
}

/** A plain Q4_K quantizer: per 32 values a 6-bit scale and min, y = d*sc*q - dmin*m. */
function packQ4K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 256) * 144);
  for (let blk = 0; blk < x.length / 256; blk++) {
    const v = x.subarray(blk * 256, blk * 256 + 256);
    const o = blk * 144;
    const sub = Array.from({ length: 8 }, (_, j) => {
      const s = Array.from(v.subarray(j * 32, j * 32 + 32));
      const mn = Math.min(0, ...s);
      return { scale: (Math.max(...s) - mn) / 15, min: -mn };
    });
    const d = f16BitsToF32(h16(Math.max(...sub.map((s) => s.scale)) / 63));
    const dmin = f16BitsToF32(h16(Math.max(...sub.map((s) => s.min)) / 63));
    put16(out, o, h16(d));
    put16(out, o + 2, h16(dmin));
    const sc = sub.map((s) => (d ? Math.min(63, Math.round(s.scale / d)) : 0));
    const m = sub.map((s) => (dmin ? Math.min(63, Math.round(s.min / dmin)) : 0));
    const S = o + 4;
    for (let j = 0; j < 8; j++) {
      if (j < 4) { out[S + j] |= sc[j]!; out[S + j + 4] |= m[j]!; }
      else {
        out[S + j + 4] = (sc[j]! & 15) | ((m[j]! & 15) << 4);
        out[S + j - 4] |= (sc[j]! >> 4) << 6;
        out[S + j] |= (m[j]! >> 4) << 6;
      }
    }
    for (let p = 0; p < 256; p++) {
      const j = p >> 5;
      const q = sc[j] ? Math.max(0, Math.min(15, Math.round((v[p]! + dmin * m[j]!) / (d * sc[j]!)))) : 0;
      const chunk = p >> 6, hi = (p >> 5) & 1, l = p & 31;
      out[o + 16 + chunk * 32 + l] |= hi ? q << 4 : q;
    }
  }
  return out;
}

describe('GGUF base models', () => {
  it('the shipped stories260K.gguf gives the logits of its HF folder (within 1e-4) and the same tokens', async () => {
    const text = 'Once upon a time there was a little dog. ### Instruction:\nHi\n\n';
    const hf = await loadModel(STORIES260K_HF_DIR);
    const ids = hf.tokenizer.encode(text, { addSpecialTokens: true });
    const a = await logits(STORIES260K_HF_DIR, ids);
    const b = await logits(STORIES260K_GGUF, ids);
    expect(b.m.source).toBe('gguf');
    expect(b.m.tokenizer.encode(text, { addSpecialTokens: true })).toEqual(ids);
    expect(maxAbsDiff(a.out, b.out)).toBeLessThan(1e-4);
  });

  it('Q4_K and Q6_K matrices (hand-packed blocks) dequantise on load: weights exact, logits close to F32', async () => {
    // Rows of 256 values so that every matrix is whole K-quant blocks.
    const dir = path.join(tmp, 'tiny256');
    writeTinyModel(dir, 'llama', { seed: 9, hidden: 256, layers: 1, heads: 4, kvHeads: 2, ffn: 256 });
    const f32 = path.join(tmp, 'f32');
    const r = await exportModel({ modelPath: dir, format: 'gguf-f32', out: f32 });
    const g = parseGguf(new Uint8Array(await readFile(path.join(f32, r.files.find((f) => f.name.endsWith('.gguf'))!.name))), 'f32.gguf');
    const ids = [1, 30, 200, 45, 99, 2, 7, 300];
    const ref = await logits(dir, ids);
    for (const type of ['Q4_K', 'Q6_K'] as const) {
      const tensors: GgufTensorToWrite[] = [];
      const expectedDown: { bytes: Uint8Array } = { bytes: new Uint8Array() };
      for (const t of g.tensors.values()) {
        const x = new Float32Array(t.bytes.slice().buffer);
        if (t.shape.length === 2) {
          const bytes = type === 'Q4_K' ? packQ4K(x) : packQ6K(x);
          if (t.name === 'blk.0.ffn_down.weight') expectedDown.bytes = bytes;
          tensors.push({ name: t.name, type, shape: t.shape, bytes });
        } else tensors.push({ name: t.name, type: 'F32', shape: t.shape, bytes: t.bytes });
      }
      const file = path.join(tmp, `tiny-${type}.gguf`);
      await writeGguf(file, g.metadata, tensors);
      // Expanded (chat multiplies the blocks as stored: tests/engine/models/compressed-compute.test.ts).
      const q = await logits(file, ids, true);
      // ffn_down has no Q/K permutation: the loaded weights are the blocks' values exactly.
      expect(maxAbsDiff(q.m.weights.get('blk.0.ffn_down.weight').data, dequantize(type, expectedDown.bytes, 256 * 256))).toBe(0);
      // The model the file should load as: every matrix through the packer, in HF layout (the Q/K
      // permutation moves whole rows, and blocks lie within rows).
      const tensors2 = new Map([...ref.m.weights.tensors].map(([k, t]) => [k, t.shape.length === 2
        ? { shape: t.shape, data: dequantize(type, type === 'Q4_K' ? packQ4K(t.data) : packQ6K(t.data), t.data.length) }
        : t]));
      const twin = { ...ref.m, weights: new (ref.m.weights.constructor as new (t: typeof tensors2, s: string) => typeof ref.m.weights)(tensors2, 'twin') };
      const ts = await allLogitsSession(twin);
      expect(maxAbsDiff(q.out, await forwardLogits(ts, twin, ids))).toBeLessThan(1e-4);
      await ts.release();
      const err = maxAbsDiff(q.out, ref.out);
      console.log(`${type} import (plain packer, random tiny model, |logits| <= ${Math.max(...Array.from(ref.out, Math.abs)).toFixed(2)}): max |logit error| vs F32 = ${err.toFixed(4)}`);
      expect(err).toBeLessThan(type === 'Q6_K' ? 0.3 : 1.5);
      expect(err).toBeGreaterThan(0);
    }
  });

  it('an unsupported tensor type is refused with an error naming the type and the tensor', async () => {
    const f32 = path.join(tmp, 'f32-for-q5');
    const r = await exportModel({ modelPath: STORIES260K_HF_DIR, format: 'gguf-f32', out: f32 });
    const g = parseGguf(new Uint8Array(await readFile(path.join(f32, r.files.find((f) => f.name.endsWith('.gguf'))!.name))), 'x.gguf');
    const tensors: GgufTensorToWrite[] = [...g.tensors.values()].map((t) =>
      t.name === 'blk.0.attn_v.weight'
        ? { name: t.name, type: 'Q5_0', shape: t.shape, bytes: new Uint8Array((t.shape[0]! * t.shape[1]!) / 32 * 22) }
        : { name: t.name, type: t.type.name, shape: t.shape, bytes: t.bytes });
    const file = path.join(tmp, 'q5.gguf');
    await writeGguf(file, g.metadata, tensors);
    await expect(loadModel(file)).rejects.toThrow(/blk\.0\.attn_v\.weight uses GGUF type Q5_0, which Attune cannot read/);
  });
});
