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
 *   GGUF Q6_K (d f16, int8 scale per 16 values; d*sc*(q-32), q 6 bits)
 *                                                          -> bits 8, block 16, scale d*sc, q + 96
 *   GGUF Q4_K (d, dmin f16, 6-bit scale sc and min m per 32 values; d*sc*q - dmin*m)
 *                                                          -> bits 4, block 32, scale s = d*sc, plus
 *     a constant per block, offset = 8s - dmin*m: MatMulNBits gives s(q - 8), the exact weight is
 *     s(q - 8) + offset, so the product adds the block sums of x times the offsets (nbitsOps in
 *     base-storage.ts; 4 bytes per 32 weights). An explicit uint8 zero point of 0 instead of the
 *     default 8 measured no faster (ORT 1.30, 1 thread, 1024x1024, 1 and 1024 rows), and the
 *     offsets are needed either way: the default keeps one input less.
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
  /** Q4_K: a constant added to every weight of a block, [rows, cols / block]. */
  offsets?: Float32Array;
}

/** GGUF block types kept compressed (the others are expanded to F32 when read). */
export const NBITS_GGUF_TYPES = ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'] as const;
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
  if (blocks.type === 'Q6_K') return nbitsFromQ6K(blocks.bytes, rows * cols);
  if (blocks.type === 'Q4_K') return nbitsFromQ4K(blocks.bytes, rows * cols);
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

function nbitsFromQ6K(src: Uint8Array, n: number): NBitsMatrix {
  // block_q6_K { ql[128]; qh[64]; int8 scales[16]; half d } (quants.ts dequantQ6_K): each half of
  // 128 values takes 64 ql bytes (values l and l + 64 in the low / high nibbles of byte l, values
  // l + 32 and l + 96 in byte l + 32) and 32 qh bytes (2 high bits of each, in that order).
  const b = new Uint8Array(n);
  const scales = new Float32Array(n / 16);
  for (let i = 0; i < n / 256; i++) {
    const o = i * 210;
    const d = f16BitsToF32(u16(src, o + 208));
    for (let j = 0; j < 16; j++) scales[i * 16 + j] = Math.fround(d * ((src[o + 192 + j]! << 24) >> 24));
    for (let half = 0; half < 2; half++) {
      const ql = o + half * 64, qh = o + 128 + half * 32, y = i * 256 + half * 128;
      for (let l = 0; l < 32; l++) {
        const h = src[qh + l]!;
        // q in 0..63 (q - 32 is the value): stored as q + 96, so the zero point 128 gives q - 32.
        b[y + l] = ((src[ql + l]! & 0xf) | ((h & 3) << 4)) + 96;
        b[y + l + 32] = ((src[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) + 96;
        b[y + l + 64] = ((src[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) + 96;
        b[y + l + 96] = ((src[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) + 96;
      }
    }
  }
  return { bits: 8, block: 16, b, scales };
}

// Q4_K's 12 scale bytes: eight 6-bit scales and eight 6-bit mins (ggml get_scale_min_k4).
function scaleMinK4(j: number, s: Uint8Array, o: number): [number, number] {
  if (j < 4) return [s[o + j]! & 63, s[o + j + 4]! & 63];
  return [(s[o + j + 4]! & 0x0f) | ((s[o + j - 4]! >> 6) << 4), (s[o + j + 4]! >> 4) | ((s[o + j]! >> 6) << 4)];
}

function nbitsFromQ4K(src: Uint8Array, n: number): NBitsMatrix {
  // block_q4_K { half d, dmin; scales[12]; qs[128] }: sub-blocks 2c and 2c + 1 (32 values each)
  // are the low and high nibbles of qs bytes 32c..32c + 31, value l in byte l.
  const b = new Uint8Array(n / 2);
  const scales = new Float32Array(n / 32);
  const offsets = new Float32Array(n / 32);
  for (let i = 0; i < n / 256; i++) {
    const o = i * 144;
    const d = f16BitsToF32(u16(src, o)), dmin = f16BitsToF32(u16(src, o + 2));
    for (let j = 0; j < 8; j++) {
      const [sc, m] = scaleMinK4(j, src, o + 4);
      const s = Math.fround(d * sc);
      scales[i * 8 + j] = s;
      offsets[i * 8 + j] = 8 * s - Math.fround(dmin * m);
      const q = o + 16 + (j >> 1) * 32, shift = j & 1 ? 4 : 0, out = (i * 8 + j) * 16;
      for (let k = 0; k < 16; k++) b[out + k] = ((src[q + 2 * k]! >> shift) & 0xf) | (((src[q + 2 * k + 1]! >> shift) & 0xf) << 4);
    }
  }
  return { bits: 4, block: 32, b, scales, offsets };
}

/** The F32 matrix a MatMulNBits weight stands for (tests; the token-row gather in the graph). */
export function expandNBits(m: NBitsMatrix, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const zero = m.bits === 4 ? 8 : 128;
  for (let i = 0; i < out.length; i++) {
    const q = m.bits === 8 ? m.b[i]! : i & 1 ? m.b[i >> 1]! >> 4 : m.b[i >> 1]! & 0xf;
    const at = Math.floor(i / m.block);
    out[i] = Math.fround(m.offsets ? (q - zero) * m.scales[at]! + m.offsets[at]! : (q - zero) * m.scales[at]!);
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
