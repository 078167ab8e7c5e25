/**
 * How the frozen base weights are stored in a graph. F32 is exact; the others save memory:
 *   f16   half the size, cast to F32 where used (for GPU providers, or to halve RAM); kept
 *         from ONNX Runtime's constant folding, which would otherwise store the F32 cast instead
 *   int8  a quarter: symmetric per-row (output channel) scales, DequantizeLinear(axis 0)
 *   int4  an eighth: symmetric scales per block of 32 inputs, blocked DequantizeLinear (opset 21)
 * Only matrices are compressed (projections, embedding, LM head); norms and biases stay F32.
 * The compute stays F32: weights are expanded where they are used, and the training graph
 * expands them again in backward rather than keeping expanded copies alive (see decoder.ts).
 */
import type { GraphBuilder } from '../onnx/builder.js';
import { attr, type Value } from '../onnx/graph.js';
import { f16BytesToF32, f32ToF16Bytes } from '../weights/half.js';
import type { ModelWeights, WeightTensor } from './weights.js';

export type BaseStorage = 'f32' | 'f16' | 'int8' | 'int4';
export const BASE_STORAGES: readonly BaseStorage[] = ['f32', 'f16', 'int8', 'int4'];

/** Bytes per weight of each storage (scales included), for memory estimates. */
export const BYTES_PER_WEIGHT: Record<BaseStorage, number> = { f32: 4, f16: 2, int8: 1 + 4 / 1024, int4: 0.5 + 4 / 32 };

const INT4_BLOCK = 32;

/** A frozen-weight lookup; `recompute` emits a fresh expansion of a compressed weight (for backward). */
export type WeightLookup = ((name: string) => Value) & { recompute?: (name: string) => Value };

export interface QuantizedInt8 {
  q: Int8Array;
  scales: Float32Array;
}

export function quantizeInt8Rows(t: WeightTensor): QuantizedInt8 {
  const [rows, cols] = t.shape;
  const q = new Int8Array(rows * cols);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let c = 0; c < cols; c++) max = Math.max(max, Math.abs(t.data[r * cols + c]));
    const s = max > 0 ? max / 127 : 1;
    scales[r] = s;
    for (let c = 0; c < cols; c++) q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(t.data[r * cols + c] / s)));
  }
  return { q, scales };
}

export interface QuantizedInt4 {
  /** Two values per byte, the first in the low nibble (ONNX's int4 packing). */
  packed: Uint8Array;
  scales: Float32Array;
}

export function quantizeInt4Blocks(t: WeightTensor): QuantizedInt4 {
  const [rows, cols] = t.shape;
  const blocks = cols / INT4_BLOCK;
  const packed = new Uint8Array((rows * cols) / 2);
  const scales = new Float32Array(rows * blocks);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const start = r * cols + b * INT4_BLOCK;
      let max = 0;
      for (let i = 0; i < INT4_BLOCK; i++) max = Math.max(max, Math.abs(t.data[start + i]));
      const s = max > 0 ? max / 7 : 1;
      scales[r * blocks + b] = s;
      for (let i = 0; i < INT4_BLOCK; i++) {
        const v = Math.max(-8, Math.min(7, Math.round(t.data[start + i] / s))) & 0xf;
        const at = start + i;
        packed[at >> 1] |= at & 1 ? v << 4 : v;
      }
    }
  }
  return { packed, scales };
}

/** The F32 values a storage gives back for a matrix (what the graph computes with). */
export function expandedWeights(t: WeightTensor, storage: BaseStorage): Float32Array {
  const [rows, cols] = t.shape;
  if (storage === 'f32' || t.shape.length !== 2) return t.data;
  const out = new Float32Array(rows * cols);
  if (storage === 'f16') {
    out.set(f16BytesToF32(f32ToF16Bytes(t.data)));
  } else if (storage === 'int8' || cols % INT4_BLOCK !== 0) {
    const { q, scales } = quantizeInt8Rows(t);
    for (let i = 0; i < out.length; i++) out[i] = q[i] * scales[Math.floor(i / cols)];
  } else {
    const { packed, scales } = quantizeInt4Blocks(t);
    const blocks = cols / INT4_BLOCK;
    for (let i = 0; i < out.length; i++) {
      const nib = i & 1 ? packed[i >> 1] >> 4 : packed[i >> 1] & 0xf;
      const v = nib >= 8 ? nib - 16 : nib;
      out[i] = Math.fround(v * scales[Math.floor(i / cols) * blocks + Math.floor((i % cols) / INT4_BLOCK)]);
    }
  }
  return out;
}

/**
 * Adds each frozen weight to the graph the first time it is used, stored as `storage` says.
 * For compressed matrices `recompute(name)` builds a second expansion node, written differently
 * (explicit zero point / a Cast through a no-op Flatten) so ORT's common-subexpression pass keeps it
 * separate from the forward one.
 */
export function storedWeightLookup(g: GraphBuilder, weights: ModelWeights, storage: BaseStorage): WeightLookup {
  const stored = new Map<string, { expand: (again: boolean) => Value }>();
  const entry = (name: string) => {
    let e = stored.get(name);
    if (e) return e;
    // Only the stored form outlives this call: with weights read from disk one at a time, the
    // full-precision tensor is garbage as soon as it is compressed (no closure below keeps it).
    e = storeWeight(g, name, weights.get(name), storage);
    stored.set(name, e);
    return e;
  };
  const lookup = ((name: string) => entry(name).expand(false)) as WeightLookup;
  if (storage !== 'f32') lookup.recompute = (name) => entry(name).expand(true);
  return lookup;
}

function storeWeight(g: GraphBuilder, name: string, t: WeightTensor, storage: BaseStorage): { expand: (again: boolean) => Value } {
  const shape = t.shape;
  const [rows, cols] = shape;
  let e: { expand: (again: boolean) => Value };
  if (storage === 'f32' || shape.length !== 2) {
    const v = g.initializer(name, 'float32', shape, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    e = { expand: () => v };
  } else if (storage === 'f16') {
    const half = g.keepUnfolded(g.initializer(`${name}.f16`, 'float16', shape, f32ToF16Bytes(t.data)));
    // The backward copy reads the weights through a Flatten (a no-op on a matrix): ORT drops
    // Identity nodes, and two identical Casts would be merged into one whose output then stays
    // alive from the forward pass to the backward pass, for every layer at once.
    const cast = (again: boolean) => g.cast(again ? g.op('Flatten', [half], { axis: attr.int(1) }, { name: `${name}.f16_again`, outputs: [{ dtype: 'float16', shape }] })[0] : half, 'float32', again ? `${name}_again` : name);
    const first = cast(false);
    e = { expand: (again) => (again ? cast(true) : first) };
  } else {
    const int4 = storage === 'int4' && cols % INT4_BLOCK === 0;
    let q: Value;
    let scales: Value;
    let attrs: Record<string, ReturnType<typeof attr.int>>;
    if (int4) {
      const { packed, scales: s } = quantizeInt4Blocks(t);
      q = g.initializer(`${name}.q4`, 'int4', shape, packed);
      scales = g.initializer(`${name}.scales`, 'float32', [rows, cols / INT4_BLOCK], new Uint8Array(s.buffer));
      attrs = { axis: attr.int(1), block_size: attr.int(INT4_BLOCK) };
    } else {
      const { q: qi, scales: s } = quantizeInt8Rows(t);
      q = g.initializer(`${name}.q8`, 'int8', shape, new Uint8Array(qi.buffer));
      scales = g.initializer(`${name}.scales`, 'float32', [rows], new Uint8Array(s.buffer));
      attrs = { axis: attr.int(0) };
    }
    // Only the backward expansion names its (zero) zero point, which keeps it a distinct node.
    let zeroPoint: Value | undefined;
    const zero = () =>
      (zeroPoint ??= int4
        ? g.initializer(`${name}.zero`, 'int4', [rows, cols / INT4_BLOCK], new Uint8Array(Math.ceil((rows * cols) / INT4_BLOCK / 2)))
        : g.initializer(`${name}.zero`, 'int8', [rows], new Uint8Array(rows)));
    const dq = (again: boolean) =>
      g.op('DequantizeLinear', again ? [q, scales, zero()] : [q, scales], attrs, { name: again ? `${name}_again` : name, outputs: [{ dtype: 'float32', shape }] })[0];
    const first = dq(false);
    e = { expand: (again) => (again ? dq(true) : first) };
  }
  return e;
}
