import { open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { float32ToTensor, parseSafetensors, readSafetensors, readSafetensorsDir, readSafetensorsMapped, tensorToFloat32, writeSafetensors, type SafetensorsTensor } from '../../../src/engine/weights/safetensors.js';
import { WeightsError } from '../../../src/engine/weights/errors.js';
import { HF_DIR, randomFloats, tempDir } from './fixtures.js';

/** Builds a safetensors file by hand so each test controls every header byte. */
function build(header: object, data: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function errorOf(f: () => unknown): WeightsError {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(WeightsError); return e as WeightsError; }
  throw new Error('expected an error');
}

describe('safetensors', () => {
  it('reads the stories260K HF weights: 47 F32 tensors, 260,032 parameters', async () => {
    const f = await readSafetensors(join(HF_DIR, 'model.safetensors'));
    expect(f.tensors.size).toBe(47);
    let n = 0;
    for (const t of f.tensors.values()) { expect(t.dtype).toBe('F32'); n += t.shape.reduce((a, b) => a * b, 1); }
    expect(n).toBe(260_032);
    expect(f.tensors.get('model.layers.0.mlp.up_proj.weight')!.shape).toEqual([172, 64]);
    expect(f.tensors.has('lm_head.weight')).toBe(false);
  });

  it('writes atomically and reads back identical bytes, dtypes and metadata', async () => {
    const dir = await tempDir();
    const a = randomFloats(6, 1);
    const tensors = new Map<string, SafetensorsTensor>([
      ['a', float32ToTensor(a, [2, 3], 'F32')],
      ['b', float32ToTensor(a, [6], 'F16')],
      ['c', float32ToTensor(a, [3, 2], 'BF16')],
      ['empty', { dtype: 'I64', shape: [0], bytes: new Uint8Array(0) }],
    ]);
    const file = join(dir, 'x.safetensors');
    await writeSafetensors(file, tensors, { format: 'pt' });
    expect(await readdir(dir)).toEqual(['x.safetensors']); // no temp file left behind
    const raw = await readFile(file);
    expect((8 + Number(raw.readBigUInt64LE(0))) % 8).toBe(0);
    const back = await readSafetensors(file);
    expect(back.metadata).toEqual({ format: 'pt' });
    for (const [k, t] of tensors) {
      const b = back.tensors.get(k)!;
      expect([b.dtype, b.shape]).toEqual([t.dtype, t.shape]);
      expect(Buffer.from(b.bytes).equals(Buffer.from(t.bytes))).toBe(true);
    }
    expect(Array.from(tensorToFloat32(back.tensors.get('a')!))).toEqual(Array.from(a));
    const f16 = tensorToFloat32(back.tensors.get('b')!);
    for (let i = 0; i < 6; i++) expect(Math.abs(f16[i]! - a[i]!)).toBeLessThanOrEqual(Math.abs(a[i]!) * 2 ** -11 + 2 ** -25);
  });

  it('a failed write leaves nothing behind and keeps the old file', async () => {
    const dir = await tempDir();
    const file = join(dir, 'm.safetensors');
    await writeFile(file, 'old');
    const bad = new Map<string, SafetensorsTensor>([['x', { dtype: 'F32', shape: [2], bytes: new Uint8Array(4) }]]);
    await expect(writeSafetensors(file, bad)).rejects.toThrow(/tensor x \(F32 \[2\]\) needs 8 bytes but was given 4/);
    expect(await readdir(dir)).toEqual(['m.safetensors']);
    expect(await readFile(file, 'utf8')).toBe('old');
  });

  it('reads files over 2 GiB (a 1.5B model ships one 3 GB model.safetensors), tensor by tensor', async () => {
    // A sparse file: 2 GiB + 8 bytes of zeros, then a tensor with known values past the 2 GiB mark.
    const dir = await tempDir();
    const file = join(dir, 'big.safetensors');
    const pad = 2 ** 31 + 8;
    const tail = Float32Array.of(1.5, -2, 3.25, 1e-3);
    const header = Buffer.from(JSON.stringify({ pad: { dtype: 'U8', shape: [pad], data_offsets: [0, pad] }, tail: { dtype: 'F32', shape: [4], data_offsets: [pad, pad + 16] } }));
    const start = Buffer.alloc(8);
    start.writeBigUInt64LE(BigInt(header.length));
    const fh = await open(file, 'w');
    await fh.write(Buffer.concat([start, header]), 0, 8 + header.length, 0);
    await fh.write(new Uint8Array(tail.buffer), 0, 16, 8 + header.length + pad);
    await fh.close();
    const seen: string[] = [];
    const f = await readSafetensorsMapped(file, (name, t) => {
      seen.push(name);
      return name === 'tail' ? tensorToFloat32(t) : t.bytes.byteLength; // drop the 2 GiB of bytes at once
    });
    expect(seen).toEqual(['pad', 'tail']);
    expect(f.tensors.get('pad')).toBe(pad);
    expect(Array.from(f.tensors.get('tail') as Float32Array)).toEqual(Array.from(tail));
    await rm(file);
  });

  it('names the file and tensor when data is truncated', () => {
    const bytes = build({ 'model.layers.0.mlp.up_proj.weight': { dtype: 'F32', shape: [200], data_offsets: [100, 900] } }, new Uint8Array(512));
    const e = errorOf(() => parseSafetensors(bytes, '/models/x/model.safetensors'));
    expect(e.message).toBe('model.safetensors: tensor model.layers.0.mlp.up_proj.weight claims bytes 100..900 but the file has only 512 bytes of data; the file is truncated or corrupt');
    expect([e.code, e.field, e.file]).toEqual(['weights.corrupt', 'model.layers.0.mlp.up_proj.weight', '/models/x/model.safetensors']);
  });

  it('rejects insane headers, bad JSON, overlaps and size mismatches', () => {
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(errorOf(() => parseSafetensors(huge, 'm.safetensors')).message).toMatch(/header claims 1099511627776 bytes but the file has only 8/);
    const big = new Uint8Array(8 + 200 * 1024 * 1024 + 1);
    new DataView(big.buffer).setBigUint64(0, BigInt(200 * 1024 * 1024), true);
    expect(errorOf(() => parseSafetensors(big, 'm.safetensors')).message).toMatch(/more than the 100 MB limit/);
    const badJson = build({}, new Uint8Array(0));
    badJson[8] = 0x7b + 1;
    expect(errorOf(() => parseSafetensors(badJson, 'm.safetensors')).message).toMatch(/header is not valid JSON/);
    const overlap = build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12));
    expect(errorOf(() => parseSafetensors(overlap, 'm.safetensors')).message).toMatch(/tensor b \(bytes 4..12\) overlaps tensor a \(bytes 0..8\)/);
    const size = build({ a: { dtype: 'BF16', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8));
    expect(errorOf(() => parseSafetensors(size, 'm.safetensors')).message).toMatch(/tensor a \(BF16 \[3\]\) needs 6 bytes but claims 8/);
    const dtype = build({ a: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1));
    expect(errorOf(() => parseSafetensors(dtype, 'm.safetensors')).code).toBe('weights.unsupported');
    const backwards = build({ a: { dtype: 'U8', shape: [0], data_offsets: [3, 1] } }, new Uint8Array(4));
    expect(errorOf(() => parseSafetensors(backwards, 'm.safetensors')).message).toMatch(/end before they begin/);
  });

  it('reads sharded folders through model.safetensors.index.json and checks the index', async () => {
    const dir = await tempDir();
    const t = (seed: number): SafetensorsTensor => float32ToTensor(randomFloats(4, seed), [2, 2], 'F32');
    await writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), new Map([['a', t(1)], ['b', t(2)]]));
    await writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), new Map([['c', t(3)]]));
    const index = { metadata: { total_size: 48 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' } };
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    const all = await readSafetensorsDir(dir);
    expect([...all.tensors.keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(Array.from(tensorToFloat32(all.tensors.get('c')!))).toEqual(Array.from(randomFloats(4, 3)));

    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...index.weight_map, d: 'model-00002-of-00002.safetensors' } }));
    await expect(readSafetensorsDir(dir)).rejects.toThrow(/lists tensor d in model-00002-of-00002.safetensors, but that shard does not contain it/);
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-00003-of-00003.safetensors' } }));
    await expect(readSafetensorsDir(dir)).rejects.toThrow(/lists shard model-00003-of-00003.safetensors, which is missing/);
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../x.safetensors' } }));
    await expect(readSafetensorsDir(dir)).rejects.toThrow(/not a .safetensors file name in this folder/);
  });
});
