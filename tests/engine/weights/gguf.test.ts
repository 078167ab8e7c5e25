import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WeightsError } from '../../../src/engine/weights/errors.js';
import { ggufTensorToFloat32, gv, metaValue, parseGguf, readGguf, writeGguf, type GgufValue } from '../../../src/engine/weights/gguf.js';
import { quantize } from '../../../src/engine/weights/quants.js';
import { GGUF_FILE, randomFloats, tempDir } from './fixtures.js';

async function roundTrip(kv: [string, GgufValue][], tensors: Parameters<typeof writeGguf>[2], alignment?: number) {
  const dir = await tempDir();
  const file = join(dir, 'm.gguf');
  await writeGguf(file, kv, tensors, alignment);
  expect(await readdir(dir)).toEqual(['m.gguf']);
  return { file, bytes: new Uint8Array(await readFile(file)), g: await readGguf(file) };
}

function errorOf(f: () => unknown): WeightsError {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(WeightsError); return e as WeightsError; }
  throw new Error('expected an error');
}

describe('GGUF reader', () => {
  it('reads stories260K.gguf: v3, 48 F32 tensors, llama metadata', async () => {
    const g = await readGguf(GGUF_FILE);
    expect(g.version).toBe(3);
    expect(g.tensors.size).toBe(48);
    expect(metaValue(g, 'general.architecture')).toBe('llama');
    expect(metaValue(g, 'llama.attention.head_count_kv')).toBe(4);
    expect((metaValue(g, 'tokenizer.ggml.tokens') as string[]).length).toBe(512);
    const q = g.tensors.get('blk.0.attn_k.weight')!;
    expect([q.type.name, q.ne, q.shape]).toEqual(['F32', [64, 32], [32, 64]]);
    expect(g.dataOffset % 32).toBe(0);
  });

  it('round-trips every metadata type, arrays, 64-bit values and a custom alignment', async () => {
    const kv: [string, GgufValue][] = [
      ['u8', gv.u8(255)], ['i8', { type: 'INT8', value: -128 }], ['u16', { type: 'UINT16', value: 65535 }],
      ['i16', { type: 'INT16', value: -32768 }], ['u32', gv.u32(4294967295)], ['i32', gv.i32(-5)],
      ['f32', gv.f32(0.1)], ['bool', gv.bool(true)], ['str', gv.str('héllo ▁ 😀')],
      ['u64', gv.u64(2n ** 63n + 5n)], ['u64small', gv.u64(7)], ['i64', { type: 'INT64', value: -(2n ** 62n) }],
      ['f64', gv.f64(0.1)], ['arr', gv.arr('STRING', ['a', '', 'c d'])], ['arrf', gv.arr('FLOAT32', [1.5, -2])],
      ['nested', { type: 'ARRAY', itemType: 'ARRAY', value: [gv.arr('INT32', [1, 2]), gv.arr('INT32', [])] }],
    ];
    const t1 = randomFloats(64, 3);
    const { g } = await roundTrip(kv, [
      { name: 'a', type: 'F32', shape: [2, 32], bytes: quantize('F32', t1) },
      { name: 'b', type: 'Q8_0', shape: [64], bytes: quantize('Q8_0', t1) },
      { name: 'c', type: 'F16', shape: [1, 1, 2, 3], bytes: quantize('F16', t1.subarray(0, 6)) },
    ], 64);
    expect(g.alignment).toBe(64);
    expect(metaValue(g, 'general.alignment')).toBe(64);
    for (const [k, v] of kv) {
      const back = g.metadata.get(k)!;
      if (k === 'f32') expect(back.value).toBe(Math.fround(0.1));
      else if (k === 'arrf') expect(back).toEqual({ type: 'ARRAY', itemType: 'FLOAT32', value: [1.5, -2] });
      else expect(back).toEqual(v);
    }
    for (const t of g.tensors.values()) expect(t.offset % 64).toBe(0);
    expect(Array.from(ggufTensorToFloat32(g.tensors.get('a')!))).toEqual(Array.from(t1));
    expect(g.tensors.get('c')!.ne).toEqual([3, 2, 1, 1]);
    expect(g.tensors.get('b')!.nbytes).toBe(68);
  });

  it('re-writing stories260K.gguf reproduces the file byte for byte', async () => {
    const g = await readGguf(GGUF_FILE);
    const tensors = [...g.tensors.values()].sort((a, b) => a.offset - b.offset).map((t) => ({ name: t.name, type: t.type.name, shape: t.shape, bytes: t.bytes }));
    const { bytes } = await roundTrip([...g.metadata], tensors);
    expect(Buffer.from(bytes).equals(await readFile(GGUF_FILE))).toBe(true);
  });

  it('names the tensor when data is truncated, misaligned, overlapping or of an unknown type', async () => {
    const f = (seed: number) => quantize('F32', randomFloats(32, seed));
    const { bytes } = await roundTrip([['general.architecture', gv.str('llama')]], [
      { name: 'blk.0.attn_q.weight', type: 'F32', shape: [32], bytes: f(1) },
      { name: 'blk.0.attn_k.weight', type: 'F32', shape: [32], bytes: f(2) },
    ]);
    const truncated = bytes.subarray(0, bytes.length - 10);
    expect(errorOf(() => parseGguf(truncated, '/x/m.gguf')).message).toBe('m.gguf: tensor blk.0.attn_k.weight claims bytes 128..256 but the file has only 246 bytes of data; the file is truncated or corrupt');
    // locate the second tensor's info: its offset is the last u64 before the padding
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    const text = Buffer.from(bytes);
    const at = text.indexOf('blk.0.attn_k.weight') + 'blk.0.attn_k.weight'.length; // then u32 n_dims, u64 ne, u32 type, u64 offset
    const typeAt = at + 4 + 8, offAt = typeAt + 4;
    const mis = bytes.slice(); new DataView(mis.buffer).setBigUint64(offAt, 100n, true);
    expect(errorOf(() => parseGguf(mis, 'm.gguf')).message).toMatch(/tensor blk.0.attn_k.weight starts at data offset 100, which is not a multiple of the alignment 32/);
    const over = bytes.slice(); new DataView(over.buffer).setBigUint64(offAt, 96n, true);
    expect(errorOf(() => parseGguf(over, 'm.gguf')).message).toMatch(/tensor blk.0.attn_k.weight \(bytes 96..224\) overlaps tensor blk.0.attn_q.weight \(bytes 0..128\)/);
    const iq = bytes.slice(); new DataView(iq.buffer).setUint32(typeAt, 17, true); // IQ2_XS, 256-value blocks
    expect(errorOf(() => parseGguf(iq, 'm.gguf')).message).toMatch(/rows of 32 values, not a multiple of the IQ2_XS block size 256/);
    const unknown = bytes.slice(); new DataView(unknown.buffer).setUint32(typeAt, 99, true);
    expect(errorOf(() => parseGguf(unknown, 'm.gguf')).message).toMatch(/tensor blk.0.attn_k.weight uses ggml type id 99/);
    expect(dv.getUint32(0, true)).toBe(0x46554747);
    const notGguf = bytes.slice(); notGguf[0] = 0;
    expect(errorOf(() => parseGguf(notGguf, 'm.gguf')).message).toMatch(/does not start with "GGUF"/);
    const v1 = bytes.slice(); new DataView(v1.buffer).setUint32(4, 1, true);
    expect(errorOf(() => parseGguf(v1, 'm.gguf')).code).toBe('weights.unsupported');
    const hugeCount = bytes.slice(); new DataView(hugeCount.buffer).setBigUint64(8, 2n ** 40n, true);
    expect(errorOf(() => parseGguf(hugeCount, 'm.gguf')).message).toMatch(/tensor count is 1099511627776, more than/);
    for (const cut of [3, 20, 40, 60, 100]) expect(errorOf(() => parseGguf(bytes.subarray(0, cut), 'm.gguf')).message).toMatch(/not a GGUF file|truncated or corrupt/);
  });

  it('refuses to dequantize types it cannot read, naming tensor and type', async () => {
    const { g } = await roundTrip([], [{ name: 'blk.0.attn_q.weight', type: 'IQ2_XS', shape: [256], bytes: new Uint8Array(74) }]);
    expect(() => ggufTensorToFloat32(g.tensors.get('blk.0.attn_q.weight')!, 'm.gguf')).toThrow(
      'm.gguf: tensor blk.0.attn_q.weight uses GGUF type IQ2_XS, which Attune cannot read yet; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K');
  });
});
