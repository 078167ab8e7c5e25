/**
 * Frozen matrices in the layout of ONNX Runtime's com.microsoft MatMulNBits, which multiplies by
 * the compressed weight directly (its CPU kernel quantizes the activations to int8 per block and
 * uses integer dot products, VNNI where the CPU has it, with accuracy_level 4).
 *
 * MatMulNBits(A [M, K], B [N, K/block, block*bits/8] uint8, scales [N, K/block]) = A W^T with
 * W[n, k] = (B[n, k] - zero) * scale[n, k / block]; 4-bit values two per byte, the even index in
 * the low nibble; without a zero-point input the zero is 8 (4 bits) or 128 (8 bits). ONNX Runtime
 * 1.30's CPU kernel runs bits 4 and 8 with blocks 16..256 and these default zero points (float
 * zero points only for 4 bits, through a slower unpacked path), checked in tests/engine/models.
 *
 * Exact mappings, no requantization:
 *   Attune int4 (symmetric, blocks of 32 along the input)  -> bits 4, block 32, q + 8
 *   GGUF Q4_0 (d f16; (q - 8) * d over 32 values)          -> bits 4, block 32, nibbles reordered
 *   GGUF Q8_0 (d f16; q * d over 32 values)                -> bits 8, block 32, q + 128
 */
import { f16BitsToF32 } from '../weights/half.js';
import type { QuantizedInt4 } from './base-storage.js';

export interface NBitsMatrix {
  bits: 4 | 8;
  block: number;
  /** [rows, cols / block, block * bits / 8] */
  b: Uint8Array;
  /** [rows, cols / block] */
  scales: Float32Array;
}

/** GGUF block types kept compressed (the others are expanded to F32 when read). */
export const NBITS_GGUF_TYPES = ['Q8_0', 'Q4_0'] as const;
export type NBitsGgufType = (typeof NBITS_GGUF_TYPES)[number];

/** The raw ggml blocks of a matrix, rows in the order the graph uses (HF order). */
export interface GgufBlocks {
  type: NBitsGgufType;
  bytes: Uint8Array;
}

export function nbitsFromInt4(q: QuantizedInt4): NBitsMatrix {
  // Signed nibble v (two's complement) -> v + 8 = v ^ 8, in both nibbles of every byte.
  const b = new Uint8Array(q.packed.length);
  for (let i = 0; i < b.length; i++) b[i] = q.packed[i]! ^ 0x88;
  return { bits: 4, block: 32, b, scales: q.scales };
}

const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);

export function nbitsFromGguf(blocks: GgufBlocks, rows: number, cols: number): NBitsMatrix {
  const nb = (rows * cols) / 32;
  const scales = new Float32Array(nb);
  const src = blocks.bytes;
  if (blocks.type === 'Q8_0') {
    const b = new Uint8Array(rows * cols);
    for (let i = 0; i < nb; i++) {
      const o = i * 34;
      scales[i] = f16BitsToF32(u16(src, o));
      for (let j = 0; j < 32; j++) b[i * 32 + j] = src[o + 2 + j]! ^ 0x80;
    }
    return { bits: 8, block: 32, b, scales };
  }
  // Q4_0: byte j holds value j (low nibble) and value j + 16 (high nibble); MatMulNBits wants
  // values 2k and 2k + 1 in byte k. Both use the zero point 8.
  const b = new Uint8Array((rows * cols) / 2);
  for (let i = 0; i < nb; i++) {
    const o = i * 18;
    scales[i] = f16BitsToF32(u16(src, o));
    const nib = (k: number) => (k < 16 ? src[o + 2 + k]! & 0xf : src[o + 2 + k - 16]! >> 4);
    for (let k = 0; k < 16; k++) b[i * 16 + k] = nib(2 * k) | (nib(2 * k + 1) << 4);
  }
  return { bits: 4, block: 32, b, scales };
}

/** The F32 matrix a MatMulNBits weight stands for (tests; the token-row gather in the graph). */
export function expandNBits(m: NBitsMatrix, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const zero = m.bits === 4 ? 8 : 128;
  for (let i = 0; i < out.length; i++) {
    const q = m.bits === 8 ? m.b[i]! : i & 1 ? m.b[i >> 1]! >> 4 : m.b[i >> 1]! & 0xf;
    out[i] = Math.fround((q - zero) * m.scales[Math.floor(i / m.block)]!);
  }
  return out;
}

/** Rows of a GGUF block tensor reordered: row r of the result is row `from[r]` of the source. */
export function permuteBlockRows(blocks: GgufBlocks, rows: number, from: ArrayLike<number>): GgufBlocks {
  const rowBytes = blocks.bytes.length / rows;
  const out = new Uint8Array(blocks.bytes.length);
  for (let r = 0; r < rows; r++) out.set(blocks.bytes.subarray(from[r]! * rowBytes, (from[r]! + 1) * rowBytes), r * rowBytes);
  return { type: blocks.type, bytes: out };
}
