/**
 * A small, independent safetensors writer/reader for tests (no engine code is used).
 *
 * Format: 8-byte little-endian u64 header length N, then N bytes of UTF-8 JSON
 * `{"__metadata__": {...}, "name": {"dtype", "shape", "data_offsets": [begin, end]}, ...}`
 * padded with spaces so that the data section starts on an 8-byte boundary, then the raw
 * little-endian tensor bytes (offsets are relative to the start of the data section).
 */
import { readFileSync, writeFileSync } from 'node:fs';

export type StDtype = 'F32' | 'F16' | 'BF16' | 'F64';

export interface StTensorIn {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** Values in float64; they are rounded to `dtype` on write. */
  data: ArrayLike<number>;
}

export interface StTensorOut {
  dtype: StDtype;
  shape: number[];
  /** Decoded (exact) values of the stored elements. */
  data: Float64Array;
}

const BYTES: Record<StDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2 };

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Round half to even of a non-negative finite number. Exact for |x| < 2^52. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** float64 -> IEEE binary16 bits, round to nearest, ties to even (no double rounding). */
export function f64ToF16Bits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c00;
  // Subnormal range: a < 2^-14; the unit is 2^-24. m may round up to 0x400 (= smallest normal).
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24);
  let e = Math.floor(Math.log2(a));
  // Math.log2 may be off by one near powers of two; fix it exactly.
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  let m = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e += 1;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | m;
}

export function f16BitsToF64(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * float64 -> bfloat16 bits the way torch does it: first to float32 (as the weights would be in
 * a float32 checkpoint), then keep the top 16 bits with round-to-nearest-even on the dropped 16.
 */
export function f64ToBf16Bits(v: number): number {
  f32Scratch[0] = v;
  const bits = u32Scratch[0]!;
  if (Number.isNaN(f32Scratch[0]!)) return ((bits >>> 16) | 0x40) & 0xffff; // quiet NaN
  const rounded = (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 0;
  return (rounded >>> 16) & 0xffff;
}

export function bf16BitsToF64(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0]!;
}

/** The value a float64 becomes once stored as `dtype` and read back. */
export function roundTo(dtype: StDtype, v: number): number {
  switch (dtype) {
    case 'F64':
      return v;
    case 'F32':
      return Math.fround(v);
    case 'F16':
      return f16BitsToF64(f64ToF16Bits(v));
    case 'BF16':
      return bf16BitsToF64(f64ToBf16Bits(v));
  }
}

function encode(t: StTensorIn): Buffer {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) throw new Error(`${t.name}: ${t.data.length} values for shape [${t.shape}]`);
  const buf = Buffer.alloc(n * BYTES[t.dtype]);
  for (let i = 0; i < n; i++) {
    const v = t.data[i]!;
    switch (t.dtype) {
      case 'F64':
        buf.writeDoubleLE(v, i * 8);
        break;
      case 'F32':
        buf.writeFloatLE(v, i * 4);
        break;
      case 'F16':
        buf.writeUInt16LE(f64ToF16Bits(v), i * 2);
        break;
      case 'BF16':
        buf.writeUInt16LE(f64ToBf16Bits(v), i * 2);
        break;
    }
  }
  return buf;
}

/** Serialize tensors (in the given order) to safetensors bytes. */
export function encodeSafetensors(tensors: StTensorIn[], metadata: Record<string, string> = { format: 'pt' }): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const parts: Buffer[] = [];
  let offset = 0;
  for (const t of tensors) {
    if (t.name in header) throw new Error(`duplicate tensor ${t.name}`);
    const b = encode(t);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + b.length] };
    parts.push(b);
    offset += b.length;
  }
  let json = JSON.stringify(header);
  const len = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (len % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBytes.length));
  return Buffer.concat([lenBuf, headerBytes, ...parts]);
}

export function writeSafetensors(path: string, tensors: StTensorIn[], metadata?: Record<string, string>): number {
  const bytes = encodeSafetensors(tensors, metadata);
  writeFileSync(path, bytes);
  return bytes.length;
}

/** Parse safetensors bytes into decoded float64 tensors (F64/F32/F16/BF16 only). */
export function decodeSafetensors(bytes: Uint8Array): Map<string, StTensorOut> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + n;
  const out = new Map<string, StTensorOut>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dtype = info.dtype as StDtype;
    if (!(dtype in BYTES)) throw new Error(`${name}: unsupported dtype ${info.dtype}`);
    const count = info.shape.reduce((a, b) => a * b, 1);
    const [b0, b1] = info.data_offsets;
    if (b1 - b0 !== count * BYTES[dtype]) throw new Error(`${name}: byte size mismatch`);
    const data = new Float64Array(count);
    const at = base + b0;
    for (let i = 0; i < count; i++) {
      switch (dtype) {
        case 'F64':
          data[i] = buf.readDoubleLE(at + i * 8);
          break;
        case 'F32':
          data[i] = buf.readFloatLE(at + i * 4);
          break;
        case 'F16':
          data[i] = f16BitsToF64(buf.readUInt16LE(at + i * 2));
          break;
        case 'BF16':
          data[i] = bf16BitsToF64(buf.readUInt16LE(at + i * 2));
          break;
      }
    }
    out.set(name, { dtype, shape: info.shape.slice(), data });
  }
  return out;
}

export function readSafetensors(path: string): Map<string, StTensorOut> {
  return decodeSafetensors(readFileSync(path));
}

/** Raw header of a safetensors file (for tests that check the layout). */
export function readSafetensorsHeader(path: string): { headerLength: number; header: Record<string, unknown> } {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  return { headerLength: n, header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown> };
}
