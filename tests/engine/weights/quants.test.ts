import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../../src/engine/weights/half.js';
import { dequantize, quantize } from '../../../src/engine/weights/quants.js';
import { randomFloats } from './fixtures.js';

describe('half floats', () => {
  it('rounds float32 to F16 to nearest even, with subnormals, overflow and NaN', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // halfway to the next binade rounds up to inf
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie -> even (0)
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie -> even (2)
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(NaN) & 0x7e00).toBe(0x7e00);
    // every finite F16 survives F16 -> F32 -> F16
    for (let h = 0; h < 65536; h++) if ((h & 0x7c00) !== 0x7c00) expect(f32ToF16Bits(f16BitsToF32(h))).toBe(h);
  });

  it('rounds float32 to BF16 to nearest even', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even (up)
    expect(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(bf16BitsToF32(0xc040)).toBe(-3);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
  });
});

const block = (f: (j: number) => number): Float32Array => Float32Array.from({ length: 32 }, (_, j) => f(j));

describe('ggml reference quantizers', () => {
  it('Q8_0: d = amax/127 as F16, q = roundf(x/d), halves away from zero', () => {
    const x = block((j) => (j - 16) * 0.5); // amax 8 -> d = 8/127
    const b = quantize('Q8_0', x);
    expect(b.length).toBe(34);
    expect(b[0]! | (b[1]! << 8)).toBe(f32ToF16Bits(Math.fround(8 / 127)));
    expect(new Int8Array(b.buffer, 2, 32)[0]).toBe(-127);
    // x = -1.5 -> -1.5 * 127/8 = -23.8125 -> -24 ; x = 0.25? none; x = 7.5 -> 119.06 -> 119
    expect(new Int8Array(b.buffer, 2, 32)[13]).toBe(-24);
    expect(new Int8Array(b.buffer, 2, 32)[31]).toBe(119);
    // ties: 63.5 must round to 64 and -63.5 to -64 (Math.round would give -63)
    const t = block((j) => (j === 0 ? 127 : j === 1 ? 63.5 : j === 2 ? -63.5 : 0));
    const q = new Int8Array(quantize('Q8_0', t).buffer, 2, 32);
    expect([q[0], q[1], q[2]]).toEqual([127, 64, -64]);
  });

  it('Q4_0: the signed extreme maps to -8, nibbles low = first half, high = second half', () => {
    const x = block((j) => j - 16); // extreme -16 -> d = 2, q = trunc(x/2 + 8.5) clamped to 15
    const b = quantize('Q4_0', x);
    expect(b.length).toBe(18);
    expect(b[0]! | (b[1]! << 8)).toBe(0x4000); // 2.0
    const q = (j: number): number => (j < 16 ? b[2 + j]! & 15 : b[2 + j - 16]! >> 4);
    expect([q(0), q(1), q(2), q(3), q(16), q(31)]).toEqual([0, 1, 1, 2, 8, 15]); // trunc(x/d + 8.5): halves round up
    expect(Array.from(dequantize('Q4_0', b, 32)).slice(0, 4)).toEqual([-16, -14, -14, -12]);
    expect(dequantize('Q4_0', b, 32)[31]).toBe(14);
    // a positive extreme gives a negative d; an all-zero block gives d = 0 and q = 8
    const p = quantize('Q4_0', block((j) => (j === 5 ? 4 : 0)));
    expect(f16BitsToF32(p[0]! | (p[1]! << 8))).toBe(-0.5);
    expect(Array.from(dequantize('Q4_0', quantize('Q4_0', block(() => 0)), 32)).every((v) => v === 0)).toBe(true);
  });

  it('round trips random data within half a step', () => {
    const x = randomFloats(32 * 64, 7, 3);
    for (const [type, steps] of [['Q8_0', 127], ['Q4_0', 8]] as const) {
      const y = dequantize(type, quantize(type, x), x.length);
      for (let i = 0; i < x.length; i += 32) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[i + j]!));
        const step = amax / steps;
        // half a step (a whole one where Q4_0 clamps +8 to 7), plus d's rounding to F16 (2^-11 relative)
        const bound = step * (type === 'Q4_0' ? 1 : 0.5) + amax * 2 ** -11 * 1.01;
        for (let j = 0; j < 32; j++) expect(Math.abs(y[i + j]! - x[i + j]!)).toBeLessThanOrEqual(bound);
      }
    }
  });
});

describe('k-quant reference quantizers', () => {
  const x = randomFloats(256 * 32, 11, 2);
  const rms = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / a.reduce((s, v) => s + v * v, 0));

  it('Q6_K: every value within one 6-bit step of its 16-value group, closer than Q8_0 is far', () => {
    const y = dequantize('Q6_K', quantize('Q6_K', x), x.length);
    for (let g = 0; g < x.length; g += 16) {
      let amax = 0;
      for (let j = 0; j < 16; j++) amax = Math.max(amax, Math.abs(x[g + j]!));
      // d * scale (int8 of the super-block's largest scale) is about amax / 32 per group
      for (let j = 0; j < 16; j++) expect(Math.abs(y[g + j]! - x[g + j]!), `value ${g + j}`).toBeLessThanOrEqual(amax / 31);
    }
    expect(rms(y, x)).toBeLessThan(0.03);
  });

  it('Q4_K: every value within one 4-bit step of its 32-value group (a scale and a min each), better than Q4_0', () => {
    const bytes = quantize('Q4_K', x);
    expect(bytes.length).toBe((x.length / 256) * 144);
    const y = dequantize('Q4_K', bytes, x.length);
    for (let g = 0; g < x.length; g += 32) {
      let lo = 0, hi = 0;
      for (let j = 0; j < 32; j++) { lo = Math.min(lo, x[g + j]!); hi = Math.max(hi, x[g + j]!); }
      for (let j = 0; j < 32; j++) expect(Math.abs(y[g + j]! - x[g + j]!), `value ${g + j}`).toBeLessThanOrEqual((hi - lo) / 15);
    }
    expect(rms(y, x)).toBeLessThan(rms(dequantize('Q4_0', quantize('Q4_0', x), x.length), x));
    // d and dmin are never negative; an all-zero super-block stays zero
    for (let i = 0; i < bytes.length; i += 144) expect([bytes[i + 1]! >> 7, bytes[i + 3]! >> 7]).toEqual([0, 0]);
    expect(dequantize('Q4_K', quantize('Q4_K', new Float32Array(256)), 256).every((v) => v === 0)).toBe(true);
    expect(dequantize('Q6_K', quantize('Q6_K', new Float32Array(256)), 256).every((v) => v === 0)).toBe(true);
  });
});

// Independent packers written from ggml-common.h's struct comments, to pin the element order.
function packQ6K(d: number, scales: number[], q: number[]): Uint8Array {
  const b = new Uint8Array(210);
  for (let idx = 0; idx < 256; idx++) {
    const half = idx >> 7, r = idx & 127, quarter = r >> 5, l = r & 31; // y[l + 32*quarter] in this half
    const v = q[idx]! + 32;
    const qlIdx = half * 64 + l + (quarter & 1 ? 32 : 0);
    b[qlIdx] |= quarter < 2 ? v & 15 : (v & 15) << 4;
    b[128 + half * 32 + l] |= (v >> 4) << (2 * quarter);
  }
  scales.forEach((s, i) => (b[192 + i] = s & 0xff));
  const h = f32ToF16Bits(d);
  b[208] = h & 0xff; b[209] = h >> 8;
  return b;
}

function packQ4K(d: number, dmin: number, sc: number[], m: number[], q: number[]): Uint8Array {
  const b = new Uint8Array(144);
  const hd = f32ToF16Bits(d), hm = f32ToF16Bits(dmin);
  b[0] = hd & 0xff; b[1] = hd >> 8; b[2] = hm & 0xff; b[3] = hm >> 8;
  for (let j = 0; j < 8; j++) {
    if (j < 4) { b[4 + j] = sc[j]!; b[8 + j] = m[j]!; }
    else {
      b[12 + j - 4] = (sc[j]! & 15) | ((m[j]! & 15) << 4);
      b[4 + j - 4] |= (sc[j]! >> 4) << 6;
      b[8 + j - 4] |= (m[j]! >> 4) << 6;
    }
  }
  for (let idx = 0; idx < 256; idx++) {
    const chunk = idx >> 6, r = idx & 63; // each 64 values use 32 bytes: low nibbles then high
    b[16 + chunk * 32 + (r & 31)] |= r < 32 ? q[idx]! : q[idx]! << 4;
  }
  return b;
}

describe('k-quant dequantizers', () => {
  it('Q6_K: y = d * scale[i/16] * (q - 32) in element order', () => {
    const q = Array.from({ length: 256 }, (_, i) => ((i * 37) % 64) - 32);
    const scales = Array.from({ length: 16 }, (_, i) => (i % 2 ? -1 : 1) * (i + 1));
    const y = dequantize('Q6_K', packQ6K(0.5, scales, q), 256);
    for (let i = 0; i < 256; i++) expect(y[i]).toBe(0.5 * scales[i >> 4]! * q[i]!);
  });

  it('Q4_K: y = d * sc[i/32] * q - dmin * m[i/32], with 6-bit packed scales', () => {
    const q = Array.from({ length: 256 }, (_, i) => (i * 7) % 16);
    const sc = [1, 63, 5, 7, 33, 45, 62, 17];
    const m = [0, 2, 60, 4, 40, 31, 1, 63];
    const y = dequantize('Q4_K', packQ4K(0.25, 0.125, sc, m, q), 256);
    for (let i = 0; i < 256; i++) expect(y[i]).toBe(0.25 * sc[i >> 5]! * q[i]! - 0.125 * m[i >> 5]!);
  });
});
