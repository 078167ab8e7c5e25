// ggml tensor types and their block layouts (ggml/src/ggml-common.h), with dequantizers and the
// reference quantizers (ggml-quants.c *_ref) reproduced operation by operation in float32, so
// llama.cpp reads back exactly the bytes it would have written itself.
import { f16BitsToF32, f32ToF16Bits, f32ToBf16Bytes, f16BytesToF32, bf16BytesToF32, f32BytesToF32, f32ToF16Bytes } from './half.js';

/** id -> [name, elements per block, bytes per block]; ids are ggml's `enum ggml_type`. */
export const GGML_TYPES = {
  0: ['F32', 1, 4], 1: ['F16', 1, 2], 2: ['Q4_0', 32, 18], 3: ['Q4_1', 32, 20],
  6: ['Q5_0', 32, 22], 7: ['Q5_1', 32, 24], 8: ['Q8_0', 32, 34], 9: ['Q8_1', 32, 36],
  10: ['Q2_K', 256, 84], 11: ['Q3_K', 256, 110], 12: ['Q4_K', 256, 144], 13: ['Q5_K', 256, 176],
  14: ['Q6_K', 256, 210], 15: ['Q8_K', 256, 292], 16: ['IQ2_XXS', 256, 66], 17: ['IQ2_XS', 256, 74],
  18: ['IQ3_XXS', 256, 98], 19: ['IQ1_S', 256, 50], 20: ['IQ4_NL', 32, 18], 21: ['IQ3_S', 256, 110],
  22: ['IQ2_S', 256, 82], 23: ['IQ4_XS', 256, 136], 24: ['I8', 1, 1], 25: ['I16', 1, 2],
  26: ['I32', 1, 4], 27: ['I64', 1, 8], 28: ['F64', 1, 8], 29: ['IQ1_M', 256, 56], 30: ['BF16', 1, 2],
  34: ['TQ1_0', 256, 54], 35: ['TQ2_0', 256, 66], 39: ['MXFP4', 32, 17],
} as const satisfies Record<number, readonly [string, number, number]>;

export type GgmlTypeName = (typeof GGML_TYPES)[keyof typeof GGML_TYPES][0];

export interface GgmlTypeInfo { id: number; name: GgmlTypeName; blockSize: number; typeSize: number }

const BY_ID = new Map<number, GgmlTypeInfo>();
const BY_NAME = new Map<string, GgmlTypeInfo>();
for (const [id, [name, blockSize, typeSize]] of Object.entries(GGML_TYPES)) {
  const info = { id: Number(id), name, blockSize, typeSize } as GgmlTypeInfo;
  BY_ID.set(info.id, info);
  BY_NAME.set(name, info);
}

export const ggmlTypeById = (id: number): GgmlTypeInfo | undefined => BY_ID.get(id);
export function ggmlType(name: GgmlTypeName): GgmlTypeInfo {
  return BY_NAME.get(name)!;
}

export const DEQUANTIZABLE = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'] as const;
export const QUANTIZABLE = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'] as const;
export type DequantizableType = (typeof DEQUANTIZABLE)[number];
export type QuantizableType = (typeof QUANTIZABLE)[number];

/** Bytes needed for a row-major tensor whose innermost (row) length is ne[0]. */
export function ggmlNbytes(type: GgmlTypeInfo, ne: readonly number[]): number {
  const n = ne.reduce((a, b) => a * b, 1);
  return (n / type.blockSize) * type.typeSize;
}

const fr = Math.fround;
const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
// C roundf: halves away from zero (Math.round sends -2.5 to -2).
const roundf = (v: number): number => (v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5));

function checkLen(name: string, bytes: Uint8Array, n: number, block: number, size: number): number {
  if (n % block) throw new Error(`${name} needs a multiple of ${block} values, got ${n}`);
  const nb = n / block;
  if (bytes.byteLength !== nb * size) throw new Error(`${name} data for ${n} values must be ${nb * size} bytes, got ${bytes.byteLength}`);
  return nb;
}

function dequantQ8_0(b: Uint8Array, n: number): Float32Array {
  // block_q8_0 { half d; int8 qs[32]; }  y = qs * d
  const nb = checkLen('Q8_0', b, n, 32, 34);
  const out = new Float32Array(n);
  for (let i = 0; i < nb; i++) {
    const o = i * 34;
    const d = f16BitsToF32(u16(b, o));
    for (let j = 0; j < 32; j++) out[i * 32 + j] = ((b[o + 2 + j]! << 24) >> 24) * d;
  }
  return out;
}

function dequantQ4_0(b: Uint8Array, n: number): Float32Array {
  // block_q4_0 { half d; uint8 qs[16]; } low nibbles are values 0..15, high nibbles 16..31; y = (q-8)*d
  const nb = checkLen('Q4_0', b, n, 32, 18);
  const out = new Float32Array(n);
  for (let i = 0; i < nb; i++) {
    const o = i * 18;
    const d = f16BitsToF32(u16(b, o));
    for (let j = 0; j < 16; j++) {
      const q = b[o + 2 + j]!;
      out[i * 32 + j] = ((q & 0x0f) - 8) * d;
      out[i * 32 + j + 16] = ((q >> 4) - 8) * d;
    }
  }
  return out;
}

// Q4_K's 12 scale bytes pack 8 six-bit scales and 8 six-bit mins (ggml get_scale_min_k4).
function scaleMinK4(j: number, s: Uint8Array, o: number): [number, number] {
  if (j < 4) return [s[o + j]! & 63, s[o + j + 4]! & 63];
  return [(s[o + j + 4]! & 0x0f) | ((s[o + j - 4]! >> 6) << 4), (s[o + j + 4]! >> 4) | ((s[o + j]! >> 6) << 4)];
}

function dequantQ4_K(b: Uint8Array, n: number): Float32Array {
  // block_q4_K { half d; half dmin; uint8 scales[12]; uint8 qs[128]; } 8 sub-blocks of 32:
  // each 64 values share 32 qs bytes, low nibbles first; y = d*sc*q - dmin*m
  const nb = checkLen('Q4_K', b, n, 256, 144);
  const out = new Float32Array(n);
  for (let i = 0; i < nb; i++) {
    const o = i * 144;
    const d = f16BitsToF32(u16(b, o));
    const dmin = f16BitsToF32(u16(b, o + 2));
    let q = o + 16;
    let y = i * 256;
    for (let j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
      const [sc1, m1] = scaleMinK4(is, b, o + 4);
      const [sc2, m2] = scaleMinK4(is + 1, b, o + 4);
      const d1 = fr(d * sc1), mm1 = fr(dmin * m1), d2 = fr(d * sc2), mm2 = fr(dmin * m2);
      for (let l = 0; l < 32; l++) out[y++] = fr(d1 * (b[q + l]! & 0x0f)) - mm1;
      for (let l = 0; l < 32; l++) out[y++] = fr(d2 * (b[q + l]! >> 4)) - mm2;
    }
  }
  return out;
}

function dequantQ6_K(b: Uint8Array, n: number): Float32Array {
  // block_q6_K { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d; } two halves of 128 values;
  // a 6-bit q is 4 bits from ql and 2 from qh, minus 32; y = d * scale[16-value group] * q
  const nb = checkLen('Q6_K', b, n, 256, 210);
  const out = new Float32Array(n);
  for (let i = 0; i < nb; i++) {
    const o = i * 210;
    const d = f16BitsToF32(u16(b, o + 208));
    let ql = o, qh = o + 128, sc = o + 192, y = i * 256;
    for (let half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = b[qh + l]!;
        const q1 = ((b[ql + l]! & 0x0f) | ((h & 3) << 4)) - 32;
        const q2 = ((b[ql + l + 32]! & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((b[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((b[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
        const s = (k: number): number => (b[sc + is + k]! << 24) >> 24;
        out[y + l] = fr(d * s(0)) * q1;
        out[y + l + 32] = fr(d * s(2)) * q2;
        out[y + l + 64] = fr(d * s(4)) * q3;
        out[y + l + 96] = fr(d * s(6)) * q4;
      }
    }
  }
  return out;
}

/** Dequantizes `n` values of `type` to float32; throws for types Attune cannot read. */
export function dequantize(type: GgmlTypeName, bytes: Uint8Array, n: number): Float32Array {
  switch (type) {
    case 'F32': return f32BytesToF32(bytes);
    case 'F16': return f16BytesToF32(bytes);
    case 'BF16': return bf16BytesToF32(bytes);
    case 'Q8_0': return dequantQ8_0(bytes, n);
    case 'Q4_0': return dequantQ4_0(bytes, n);
    case 'Q4_K': return dequantQ4_K(bytes, n);
    case 'Q6_K': return dequantQ6_K(bytes, n);
    default: throw new Error(`type ${type} cannot be dequantized yet`);
  }
}

function quantQ8_0(x: Float32Array): Uint8Array {
  // quantize_row_q8_0_ref: d = amax/127, q = roundf(x * (1/d))
  const nb = x.length / 32;
  const out = new Uint8Array(nb * 34);
  for (let i = 0; i < nb; i++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[i * 32 + j]!));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    const h = f32ToF16Bits(d);
    out[i * 34] = h & 0xff;
    out[i * 34 + 1] = h >> 8;
    for (let j = 0; j < 32; j++) out[i * 34 + 2 + j] = roundf(fr(x[i * 32 + j]! * id)) & 0xff;
  }
  return out;
}

function quantQ4_0(x: Float32Array): Uint8Array {
  // quantize_row_q4_0_ref: the signed value of largest magnitude maps to -8: d = max/-8,
  // q = min(15, trunc(x/d + 8.5))
  const nb = x.length / 32;
  const out = new Uint8Array(nb * 18);
  for (let i = 0; i < nb; i++) {
    let amax = 0, max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[i * 32 + j]!;
      if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    const h = f32ToF16Bits(d);
    out[i * 18] = h & 0xff;
    out[i * 18 + 1] = h >> 8;
    for (let j = 0; j < 16; j++) {
      const x0 = fr(x[i * 32 + j]! * id);
      const x1 = fr(x[i * 32 + 16 + j]! * id);
      const q0 = Math.min(15, Math.trunc(fr(x0 + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(x1 + 8.5)));
      out[i * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

// ggml's nearest_int: the float magic-number trick, which rounds halves to even.
const nearestInt = (v: number): number => {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
};
const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v));
const putF16 = (out: Uint8Array, o: number, v: number): void => {
  const h = f32ToF16Bits(v);
  out[o] = h & 0xff;
  out[o + 1] = h >> 8;
};

// make_qkx2_quants: scale and min of x ~ scale * L - min (L in 0..nmax), weighted least squares
// over a few trial scales. Returns [scale, min] and fills L.
function makeQkx2(x: Float32Array, at: number, n: number, nmax: number, w: Float32Array, L: Uint8Array, lAt: number): [number, number] {
  let min = x[at]!, max = x[at]!, sumW = w[0]!, sumX = fr(sumW * x[at]!);
  for (let i = 1; i < n; i++) {
    const v = x[at + i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sumW = fr(sumW + w[i]!);
    sumX = fr(sumX + fr(w[i]! * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lAt, lAt + n);
    return [0, -min];
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let best = 0;
  for (let i = 0; i < n; i++) {
    const l = clamp(nearestInt(fr(iscale * fr(x[at + i]! - min))), 0, nmax);
    L[lAt + i] = l;
    const diff = fr(fr(fr(scale * l) + min) - x[at + i]!);
    best = fr(best + fr(w[i]! * fr(diff * diff)));
  }
  const aux = new Uint8Array(n);
  for (let is = 0; is <= 20; is++) {
    iscale = fr(fr(fr(-1 + fr(0.1 * is)) + nmax) / fr(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = clamp(nearestInt(fr(iscale * fr(x[at + i]! - min))), 0, nmax);
      aux[i] = l;
      sumL = fr(sumL + fr(w[i]! * l));
      sumL2 = fr(sumL2 + fr(fr(w[i]! * l) * l));
      sumXL = fr(sumXL + fr(fr(w[i]! * l) * x[at + i]!));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let s = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let m = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (m > 0) {
        m = 0;
        s = fr(sumXL / sumL2);
      }
      let err = 0;
      for (let i = 0; i < n; i++) {
        const diff = fr(fr(fr(s * aux[i]!) + m) - x[at + i]!);
        err = fr(err + fr(w[i]! * fr(diff * diff)));
      }
      if (err < best) {
        L.set(aux, lAt);
        best = err;
        scale = s;
        min = m;
      }
    }
  }
  return [scale, -min];
}

function quantQ4_K(x: Float32Array): Uint8Array {
  // quantize_row_q4_K_ref: per 32 values a scale and a min (make_qkx2_quants), both quantized to
  // 6 bits against the super-block's d and dmin (f16), then the 4-bit values again against them.
  const nb = x.length / 256;
  const out = new Uint8Array(nb * 144);
  const L = new Uint8Array(256), w = new Float32Array(32), scales = new Float32Array(8), mins = new Float32Array(8);
  for (let i = 0; i < nb; i++) {
    const xb = i * 256, o = i * 144;
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xb + 32 * j + l]! * x[xb + 32 * j + l]!));
      const av = fr(Math.sqrt(fr(sumX2 / 32)));
      for (let l = 0; l < 32; l++) w[l] = fr(av + Math.abs(x[xb + 32 * j + l]!));
      [scales[j], mins[j]] = makeQkx2(x, xb + 32 * j, 32, 15, w, L, 32 * j);
      maxScale = Math.max(maxScale, scales[j]!);
      maxMin = Math.max(maxMin, mins[j]!);
    }
    const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
    const sc = o + 4;
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(fr(invScale * scales[j]!)));
      const lm = Math.min(63, nearestInt(fr(invMin * mins[j]!)));
      if (j < 4) {
        out[sc + j] = ls;
        out[sc + j + 4] = lm;
      } else {
        out[sc + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
        out[sc + j - 4] |= (ls >> 4) << 6;
        out[sc + j] |= (lm >> 4) << 6;
      }
    }
    putF16(out, o, fr(maxScale / 63));
    putF16(out, o + 2, fr(maxMin / 63));
    const d = f16BitsToF32(u16(out, o)), dmin = f16BitsToF32(u16(out, o + 2));
    for (let j = 0; j < 8; j++) {
      const [s, m] = scaleMinK4(j, out, sc);
      const dj = fr(d * s);
      if (!dj) continue;
      const dm = fr(dmin * m);
      for (let l = 0; l < 32; l++) L[32 * j + l] = clamp(nearestInt(fr(fr(x[xb + 32 * j + l]! + dm) / dj)), 0, 15);
    }
    for (let j = 0, q = o + 16; j < 256; j += 64, q += 32) {
      for (let l = 0; l < 32; l++) out[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
    }
  }
  return out;
}

// make_qx_quants (rmse_type 1, no importance weights): a signed scale for values in
// -nmax..nmax-1, weighted by x^2, over a few trial scales. Returns the scale and fills L (+ nmax).
function makeQx(x: Float32Array, at: number, n: number, nmax: number, L: Uint8Array, lAt: number): number {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[at + i]!);
    if (ax > amax) { amax = ax; max = x[at + i]!; }
  }
  if (amax < 1e-15) {
    L.fill(0, lAt, lAt + n);
    return 0;
  }
  const trial = (iscale: number, into: Uint8Array, intoAt: number): [number, number] => {
    let sumLX = 0, sumL2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[at + i]!;
      const l = clamp(nearestInt(fr(iscale * v)), -nmax, nmax - 1);
      into[intoAt + i] = l + nmax;
      const w = fr(v * v);
      sumLX = fr(sumLX + fr(fr(w * v) * l));
      sumL2 = fr(sumL2 + fr(fr(w * l) * l));
    }
    return [sumLX, sumL2];
  };
  const [lx, l2] = trial(fr(-nmax / max), L, lAt);
  let scale = l2 ? fr(lx / l2) : 0;
  let best = fr(scale * lx);
  const aux = new Uint8Array(n);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    const [sLX, sL2] = trial(fr(-fr(nmax + fr(0.1 * is)) / max), aux, 0);
    if (sL2 > 0 && fr(sLX * sLX) > fr(best * sL2)) {
      L.set(aux, lAt);
      scale = fr(sLX / sL2);
      best = fr(scale * sLX);
    }
  }
  return scale;
}

function quantQ6_K(x: Float32Array): Uint8Array {
  // quantize_row_q6_K_ref: a scale per 16 values (make_qx_quants, 6-bit values), the scales as
  // int8 against the super-block's d (f16), then the values again against d * scale.
  const nb = x.length / 256;
  const out = new Uint8Array(nb * 210);
  const L = new Uint8Array(256), scales = new Float32Array(16);
  for (let i = 0; i < nb; i++) {
    const xb = i * 256, o = i * 210;
    let maxScale = 0, maxAbs = 0;
    for (let ib = 0; ib < 16; ib++) {
      scales[ib] = makeQx(x, xb + 16 * ib, 16, 32, L, 16 * ib);
      if (Math.abs(scales[ib]!) > maxAbs) { maxAbs = Math.abs(scales[ib]!); maxScale = scales[ib]!; }
    }
    if (maxAbs < 1e-15) continue; // an all-zero block
    const iscale = fr(-128 / maxScale);
    putF16(out, o + 208, fr(1 / iscale));
    for (let ib = 0; ib < 16; ib++) out[o + 192 + ib] = Math.min(127, nearestInt(fr(iscale * scales[ib]!))) & 0xff;
    const d = f16BitsToF32(u16(out, o + 208));
    for (let j = 0; j < 16; j++) {
      const dj = fr(d * ((out[o + 192 + j]! << 24) >> 24));
      if (!dj) continue;
      for (let l = 0; l < 16; l++) L[16 * j + l] = clamp(nearestInt(fr(x[xb + 16 * j + l]! / dj)), -32, 31) + 32;
    }
    for (let j = 0, ql = o, qh = o + 128; j < 256; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const [a, b, c, e] = [L[j + l]!, L[j + l + 32]!, L[j + l + 64]!, L[j + l + 96]!];
        out[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
        out[ql + l + 32] = (b & 0xf) | ((e & 0xf) << 4);
        out[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
    }
  }
  return out;
}

/** Quantizes float32 values (a multiple of the block size) with ggml's reference quantizer. */
export function quantize(type: QuantizableType, x: Float32Array): Uint8Array {
  const info = ggmlType(type);
  if (x.length % info.blockSize) throw new Error(`${type} needs a multiple of ${info.blockSize} values, got ${x.length}`);
  switch (type) {
    case 'F32': return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    case 'F16': return f32ToF16Bytes(x);
    case 'BF16': return f32ToBf16Bytes(x);
    case 'Q8_0': return quantQ8_0(x);
    case 'Q4_0': return quantQ4_0(x);
    case 'Q4_K': return quantQ4_K(x);
    case 'Q6_K': return quantQ6_K(x);
  }
}
