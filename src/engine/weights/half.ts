// IEEE half (F16) and bfloat16 (BF16) <-> float32, round-to-nearest-even, bit-exact with ggml's
// ggml_compute_fp32_to_fp16 / ggml_compute_fp32_to_bf16 and with torch's casts.
import { endianness } from 'node:os';

// Everything in this folder reinterprets little-endian file bytes as typed arrays.
if (endianness() !== 'LE') throw new Error('Attune weights code assumes a little-endian CPU');

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> F16 bits, round to nearest even; overflow -> inf, NaN stays NaN. */
export function f32ToF16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Result is subnormal (or zero): value * 2^24 as an integer, rounded to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry into the exponent is correct
  return sign | h;
}

function f16BitsToF32Slow(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// A 256 KiB table makes F16 tensors of a few GB convert at memory speed.
let table: Float32Array | undefined;
function f16Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) table[i] = f16BitsToF32Slow(i);
  }
  return table;
}

export function f16BitsToF32(h: number): number {
  return f16Table()[h & 0xffff]!;
}

/** float32 -> BF16 bits, round to nearest even (NaN kept quiet). */
export function f32ToBf16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** Copies `bytes` into a fresh, aligned Uint16Array (file views may start at odd offsets). */
function u16s(bytes: Uint8Array): Uint16Array {
  if (bytes.byteLength % 2) throw new Error(`16-bit data has an odd byte length ${bytes.byteLength}`);
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  return new Uint16Array(bytes.slice().buffer);
}

export function f16BytesToF32(bytes: Uint8Array): Float32Array {
  return f16BytesToF32Into(bytes, new Float32Array(bytes.byteLength / 2));
}

/** The F16 values of `bytes` as F32 in `out` (as long as they are many); returns `out`. */
export function f16BytesToF32Into(bytes: Uint8Array, out: Float32Array): Float32Array {
  const src = u16s(bytes);
  const t = f16Table();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  return out;
}

export function bf16BytesToF32(bytes: Uint8Array): Float32Array {
  return bf16BytesToF32Into(bytes, new Float32Array(bytes.byteLength / 2));
}

/** The BF16 values of `bytes` as F32 in `out` (as long as they are many); returns `out`. */
export function bf16BytesToF32Into(bytes: Uint8Array, out: Float32Array): Float32Array {
  const src = u16s(bytes);
  const o32 = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) o32[i] = src[i]! << 16;
  return out;
}

export function f32ToF16Bytes(data: Float32Array): Uint8Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = f32ToF16Bits(data[i]!);
  return new Uint8Array(out.buffer);
}

export function f32ToBf16Bytes(data: Float32Array): Uint8Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = f32ToBf16Bits(data[i]!);
  return new Uint8Array(out.buffer);
}

/** Float32 view of little-endian F32 bytes; copies only when the view is misaligned. */
export function f32BytesToF32(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 4) throw new Error(`F32 data has a byte length ${bytes.byteLength} not divisible by 4`);
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Float32Array(bytes.slice().buffer);
}

export function f32ToBytes(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
