/**
 * How the frozen base weights are stored in a graph. F32 is exact; the others save memory:
 *   f16   half the size, cast to F32 where used (for GPU providers, or to halve RAM); kept
 *         from ONNX Runtime's constant folding, which would otherwise store the F32 cast instead
 *   int8  a quarter: symmetric per-row (output channel) scales, DequantizeLinear(axis 0)
 *   int4  an eighth: symmetric scales per block of 32 inputs, blocked DequantizeLinear (opset 21)
 * Only matrices are compressed (projections, embedding, LM head); norms and biases stay F32.
 * Products with int8/int4 matrices read them compressed (integer kernels; see `linear` below and
 * nbits.ts); everything else (LoRA, norms, attention, the loss) computes in F32 on weights
 * expanded where used, and the training graph expands them again in backward rather than keeping
 * expanded copies alive (see decoder.ts).
 */
import type { GraphBuilder } from '../onnx/builder.js';
import { attr, type FillScratch, type Value } from '../onnx/graph.js';
import { f16BytesToF32, f32ToF16Bytes } from '../weights/half.js';
import type { ModelWeights, WeightTensor } from './weights.js';
import { expandNBits, nbitsFromGguf, nbitsFromInt4, type NBitsMatrix } from './nbits.js';
import { compressedLinear } from '../onnx/autodiff/rules/linear.js';

export type BaseStorage = 'f32' | 'f16' | 'int8' | 'int4';
export const BASE_STORAGES: readonly BaseStorage[] = ['f32', 'f16', 'int8', 'int4'];

/** Bytes per weight of each storage (scales included), for memory estimates. */
export const BYTES_PER_WEIGHT: Record<BaseStorage, number> = { f32: 4, f16: 2, int8: 1 + 4 / 1024, int4: 0.5 + 4 / 32 };

const INT4_BLOCK = 32;

/**
 * A frozen-weight lookup; `recompute` emits a fresh expansion of a compressed weight (for
 * backward); `linear` and `rows` use a compressed matrix without expanding it (see
 * storedWeightLookup); they give undefined for a matrix that is not stored that way.
 */
export type WeightLookup = ((name: string) => Value) & {
  recompute?: (name: string) => Value;
  linear?: (name: string, x: Value, bias: Value | undefined, opName: string) => Value | undefined;
  rows?: (name: string, ids: Value, opName: string) => Value | undefined;
  /** x W^T without an input gradient through int8 MatMulInteger (a training head's logits). */
  logits?: (name: string, x: Value, opName: string) => Value | undefined;
  /**
   * Inference: x [W1; W2; ...]^T (+ [b1; b2; ...]), the products of several matrices with the same
   * input as one (q, k and v; gate and up): one kernel call, and one quantization of x for
   * MatMulNBits. Undefined unless every matrix is F32 or every one is in the same block layout.
   */
  stacked?: (stackName: string, names: string[], biasNames: string[] | undefined, x: Value, opName: string) => Value | undefined;
};

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
    out.set(expandInt4(quantizeInt4Blocks(t), rows, cols));
  }
  return out;
}

function expandInt4({ packed, scales }: QuantizedInt4, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const blocks = cols / INT4_BLOCK;
  for (let i = 0; i < out.length; i++) {
    const nib = i & 1 ? packed[i >> 1] >> 4 : packed[i >> 1] & 0xf;
    const v = nib >= 8 ? nib - 16 : nib;
    out[i] = Math.fround(v * scales[Math.floor(i / cols) * blocks + Math.floor((i % cols) / INT4_BLOCK)]);
  }
  return out;
}

/** How the frozen matrices are multiplied. */
export interface StoredWeightOptions {
  /**
   * Multiply by int8/int4 (and GGUF Q8_0/Q4_0) matrices without expanding them (default: for
   * graphs built for the CPU):
   * int8 through MatMulInteger on per-row int8 activations, int4 and GGUF blocks through
   * MatMulNBits. False expands every matrix to F32 where used (exact; the F32 reference).
   */
  compressedCompute?: boolean;
  /** A training graph: the input gradient of each compressed product is needed (see `linear`). */
  training?: boolean;
  /**
   * An int4 matrix in training: 'int8' (default) multiplies an int8 copy of its values, forward and
   * input gradient (MatMulInteger; 2 bytes per weight), 'expand' multiplies its blocks forward
   * (MatMulNBits) and a fresh F32 expansion for the input gradient (no extra memory, slower).
   */
  int4InputGradient?: 'int8' | 'expand';
  /** Multiply GGUF Q8_0/Q4_0/Q4_K/Q6_K matrices as the file stores them, whatever `storage` says. */
  ggufBlocks?: boolean;
}

/**
 * Adds each frozen weight to the graph the first time it is used, stored as `storage` says.
 * For compressed matrices `recompute(name)` builds a second expansion node, written differently
 * (explicit zero point / a Cast through a no-op Flatten) so ORT's common-subexpression pass keeps it
 * separate from the forward one. `linear(name, x, bias)` multiplies by a compressed matrix without
 * expanding it (undefined where the matrix is not stored compressed); `rows(name, ids)` reads
 * single rows of one (the embedding lookup) without expanding the table.
 */
export function storedWeightLookup(g: GraphBuilder, weights: ModelWeights, storage: BaseStorage, options: StoredWeightOptions = {}): WeightLookup {
  // The integer kernels are the CPU's: graphs for a GPU provider expand (their kernels differ).
  const opts = { ...options, compressedCompute: options.compressedCompute ?? g.device === 'cpu' };
  const stored = new Map<string, StoredWeight>();
  const entry = (name: string) => {
    let e = stored.get(name);
    if (e) return e;
    // Only the stored form outlives this call: with weights read from disk one at a time, the
    // full-precision tensor is garbage as soon as it is compressed (no closure below keeps it).
    e = deferredF32(g, weights, name, storage) ?? storeWeight(g, name, weights.get(name), storage, opts);
    stored.set(name, e);
    return e;
  };
  const lookup = ((name: string) => entry(name).expand(false)) as WeightLookup;
  if (storage !== 'f32') lookup.recompute = (name) => entry(name).expand(true);
  if (opts.compressedCompute) {
    lookup.linear = (name, x, bias, opName) => entry(name).linear?.(x, bias, opName);
    lookup.rows = (name, ids, opName) => entry(name).rows?.(ids, opName);
    lookup.logits = (name, x, opName) => entry(name).logits?.(x, opName);
  }
  lookup.stacked = (stackName, names, biasNames, x, opName) => {
    // Matrices already stored on their own would then be stored twice.
    if ([...names, ...(biasNames ?? [])].some((n) => stored.has(n))) return undefined;
    if (weights.readsSingly && storage === 'f32') return deferredStack(g, weights, stackName, names, biasNames, x, opName);
    return stackedProduct(g, stackName, names.map((n) => weights.get(n)), biasNames?.map((n) => weights.get(n)), x, opName, storage, opts);
  };
  return lookup;
}

/**
 * A weight kept in F32 from a source read one tensor at a time (a Hugging Face folder): the graph
 * holds no values, the model file gets them from the source file when it is written (see
 * Initializer.fill). Building the 135M training graph then no longer reads 540 MB into new
 * arrays first. Undefined where the weight is compressed or already in memory.
 */
function deferredF32(g: GraphBuilder, weights: ModelWeights, name: string, storage: BaseStorage): StoredWeight | undefined {
  if (!weights.readsSingly) return undefined;
  const shape = weights.shapeOf(name);
  if (!keptF32(storage, shape)) return undefined;
  const v = g.deferredInitializer(name, shape, (out, scratch) => weights.readInto(name, out, scratch));
  return { expand: () => v };
}

/** Whether a weight is stored as F32 values: at F32 storage, and vectors (norms, biases) at any. */
const keptF32 = (storage: BaseStorage, shape: number[]) => storage === 'f32' || shape.length !== 2;

/** See WeightLookup.stacked. */
function stackedProduct(g: GraphBuilder, stackName: string, ts: WeightTensor[], biases: WeightTensor[] | undefined, x: Value, opName: string, storage: BaseStorage, opts: StoredWeightOptions): Value | undefined {
  const cols = ts[0]!.shape[1];
  if (ts.some((t) => t.shape.length !== 2 || t.shape[1] !== cols)) return undefined;
  const rows = ts.reduce((n, t) => n + t.shape[0]!, 0);
  const bias = biases && g.initializer(`${stackName}.bias`, 'float32', [rows], bytesOf(concatFloats(biases.map((b) => b.data))));
  if (ts.every((t) => keptAsBlocks(t, opts))) {
    const ms = ts.map((t) => nbitsFromGguf(t.gguf!, t.shape[0]!, cols!));
    const first = ms[0]!;
    if (ms.some((m) => m.bits !== first.bits || m.block !== first.block || !m.offsets !== !first.offsets)) return undefined;
    const b = new Uint8Array(ms.reduce((n, m) => n + m.b.length, 0));
    ms.reduce((at, m) => (b.set(m.b, at), at + m.b.length), 0);
    const m: NBitsMatrix = { bits: first.bits, block: first.block, b, scales: concatFloats(ms.map((m) => m.scales)), ...(first.offsets ? { offsets: concatFloats(ms.map((m) => m.offsets!)) } : {}) };
    return nbitsOps(g, stackName, m, rows, cols!, undefined).linear(x, bias, opName);
  }
  // F32 where storeWeight would keep F32 (a GGUF block matrix is F32 when not kept as blocks).
  if (storage !== 'f32' || ts.some((t) => keptAsBlocks(t, opts))) return undefined;
  const w = g.initializer(`${stackName}.weight`, 'float32', [rows, cols!], bytesOf(concatFloats(ts.map((t) => t.data))));
  return g.gemm(x, w, { transB: true, ...(bias ? { c: bias } : {}) }, opName);
}

/** stackedProduct's F32 case for weights read one at a time: each part read into its rows when the file is written. */
function deferredStack(g: GraphBuilder, weights: ModelWeights, stackName: string, names: string[], biasNames: string[] | undefined, x: Value, opName: string): Value | undefined {
  const shapes = names.map((n) => weights.shapeOf(n));
  const cols = shapes[0]![1];
  if (shapes.some((s) => s.length !== 2 || s[1] !== cols)) return undefined;
  const rows = shapes.reduce((n, s) => n + s[0]!, 0);
  const stackOf = (parts: string[], size: (i: number) => number) => (out: Float32Array, scratch: FillScratch) =>
    parts.reduce((at, n, i) => (weights.readInto(n, out.subarray(at, at + size(i)), scratch), at + size(i)), 0);
  const bias = biasNames && g.deferredInitializer(`${stackName}.bias`, [rows], stackOf(biasNames, (i) => shapes[i]![0]!));
  const w = g.deferredInitializer(`${stackName}.weight`, [rows, cols!], stackOf(names, (i) => shapes[i]![0]! * cols!));
  return g.gemm(x, w, { transB: true, ...(bias ? { c: bias } : {}) }, opName);
}

function concatFloats(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

interface StoredWeight {
  expand: (again: boolean) => Value;
  linear?: (x: Value, bias: Value | undefined, name: string) => Value;
  rows?: (ids: Value, name: string) => Value;
  logits?: (x: Value, name: string) => Value;
}

const bytesOf = (a: Float32Array | Int8Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Memoizes an initializer so that only the forms the graph uses are stored. */
function lazy<T>(make: () => T): () => T {
  let v: T | undefined;
  let made = false;
  return () => {
    if (!made) {
      v = make();
      made = true;
    }
    return v as T;
  };
}

/**
 * A GGUF Q8_0/Q4_0/Q4_K/Q6_K matrix multiplied as its file stores it. A function of its own on
 * purpose: a closure that reads `t` keeps the whole scope's `t` alive in V8, and inside storeWeight
 * it kept every F32 tensor of the model alive (a 3B model peaked at 13.8 GiB instead of 4.8).
 * Training: the input gradient dx = dy W through an int8 copy quantized per input column (as for
 * Attune int4), or with `int4InputGradient: 'expand'` through a fresh expansion of the blocks in
 * the backward pass (DequantizeLinear of a signed copy of the MatMulNBits values: +1 byte per
 * weight for 8 bits, +0.5 for 4, and slower). `expand` (the token-row table of an adapter, the
 * training head) gives the F32 values.
 */
function storeGgufBlocks(g: GraphBuilder, name: string, t: WeightTensor, opts: StoredWeightOptions): StoredWeight {
  const [rows, cols] = t.shape;
  const m = nbitsFromGguf(t.gguf!, rows, cols);
  const f32 = lazy(() => g.initializer(name, 'float32', t.shape, bytesOf(t.data)));
  const scales = lazy(() => g.initializer(`${name}.scales`, 'float32', [rows, cols / m.block], bytesOf(m.scales)));
  const offsets = m.offsets && lazy(() => g.initializer(`${name}.offsets`, 'float32', [rows, cols / m.block], bytesOf(m.offsets!)));
  let backward: ((gb: GraphBuilder, dy: Value) => Value) | undefined;
  if (opts.training && opts.int4InputGradient === 'expand') {
    // MatMulNBits' unsigned values with their zero point (128 or 8) as signed ones: v ^ 0x80 per byte, or per nibble.
    const q = lazy(() => (m.bits === 8 ? g.initializer(`${name}.q8`, 'int8', [rows, cols], m.b.map((v) => v ^ 0x80)) : g.initializer(`${name}.q4`, 'int4', [rows, cols], m.b.map((v) => v ^ 0x88))));
    backward = (gb, dy) => {
      const w = gb.op('DequantizeLinear', [q(), scales()], { axis: attr.int(1), block_size: attr.int(m.block) }, { name: `${name}_again`, outputs: [{ dtype: 'float32', shape: [rows, cols] }] })[0];
      if (!offsets) return gb.gemm(dy, w, {}, 'dx');
      // Q4_K: dx = dy (W' + offsets over each block) = dy W' + (dy offsets) repeated over each block's 32 inputs.
      const dx = gb.gemm(dy, w, {}, 'dx_values');
      const m0 = dx.shape?.[0] ?? 'rows';
      const perBlock = gb.unsqueeze(gb.gemm(dy, offsets(), {}, 'dx_offsets'), [-1], 'dx_offsets_col'); // [M, blocks, 1]
      return gb.reshape(gb.add(gb.reshape(dx, [m0, cols / m.block, m.block], 'dx_blocks'), perBlock, 'dx_blocks_sum'), [m0, cols], 'dx');
    };
  } else if (opts.training) backward = int8ColumnGradient(g, name, expandNBits(m, rows, cols), rows, cols);
  return { expand: () => f32(), ...nbitsOps(g, name, m, rows, cols, backward, { scales, offsets }) };
}

/** Whether a GGUF Q8_0/Q4_0/Q4_K/Q6_K matrix is multiplied as its file stores it. */
function keptAsBlocks(t: WeightTensor, opts: StoredWeightOptions): boolean {
  return opts.compressedCompute !== false && !!opts.ggufBlocks && !!t.gguf && t.shape.length === 2;
}

function storeWeight(g: GraphBuilder, name: string, t: WeightTensor, storage: BaseStorage, opts: StoredWeightOptions): StoredWeight {
  const shape = t.shape;
  const [rows, cols] = shape;
  const compressed = opts.compressedCompute !== false;
  if (keptAsBlocks(t, opts)) return storeGgufBlocks(g, name, t, opts);
  // Otherwise its F32 values, expanded once here (a kept GGUF matrix expands `data` on each read).
  if (t.gguf) t = { shape, data: t.data };
  if (keptF32(storage, shape)) {
    const v = g.initializer(name, 'float32', shape, bytesOf(t.data));
    return { expand: () => v };
  }
  if (storage === 'f16') {
    const half = g.keepUnfolded(g.initializer(`${name}.f16`, 'float16', shape, f32ToF16Bytes(t.data)));
    // The backward copy reads the weights through a Flatten (a no-op on a matrix): ORT drops
    // Identity nodes, and two identical Casts would be merged into one whose output then stays
    // alive from the forward pass to the backward pass, for every layer at once.
    const cast = (again: boolean) => g.cast(again ? g.op('Flatten', [half], { axis: attr.int(1) }, { name: `${name}.f16_again`, outputs: [{ dtype: 'float16', shape }] })[0] : half, 'float32', again ? `${name}_again` : name);
    const first = lazy(() => cast(false));
    return { expand: (again) => (again ? cast(true) : first()) };
  }
  const int4 = storage === 'int4' && cols % INT4_BLOCK === 0;
  let q: () => Value;
  let scales: () => Value;
  let attrs: Record<string, ReturnType<typeof attr.int>>;
  let linear: StoredWeight['linear'];
  let rowsOf: StoredWeight['rows'];
  let logits: StoredWeight['logits'];
  let tableExpansion: (() => Value) | undefined;
  if (int4) {
    const quant = quantizeInt4Blocks(t);
    q = lazy(() => g.initializer(`${name}.q4`, 'int4', shape, quant.packed));
    scales = lazy(() => g.initializer(`${name}.scales`, 'float32', [rows, cols / INT4_BLOCK], bytesOf(quant.scales)));
    attrs = { axis: attr.int(1), block_size: attr.int(INT4_BLOCK) };
    if (compressed) {
      // Products with many rows (a training step) run fastest as int8 GEMMs: MatMulInteger goes
      // 2-3x MatMulNBits' speed at 1,024 rows (bench/RESULTS.md). So a training step multiplies an
      // int8 copy of the int4 values requantized per output row (off by at most 1/254 of the row's
      // largest value, about a twentieth of int4's own rounding), forward and input gradient alike
      // (2 bytes per weight, as the int8 base), and differentiates exactly the product it computes.
      // Chat and validation (forward only) read the int4 blocks by MatMulNBits. 'expand' (the
      // memory-saving choice) keeps the blocks and expands them for the input gradient instead.
      const asInt8 = lazy(() => {
        const q8 = quantizeInt8Rows({ shape, data: expandInt4(quant, rows, cols) });
        const q8Init = lazy(() => g.initializer(`${name}.i8`, 'int8', shape, bytesOf(q8.q)));
        return int8Ops(g, `${name}.i8`, q8, rows, cols, q8Init, opts.training, lazy(() => g.initializer(`${name}.i8.scales`, 'float32', [rows], bytesOf(q8.scales))));
      });
      if (opts.training && opts.int4InputGradient !== 'expand') {
        linear = (x, bias, op) => asInt8().linear(x, bias, op);
        rowsOf = (ids, op) => asInt8().rows(ids, op);
      } else {
        const backward = opts.training ? (gb: GraphBuilder, dy: Value) => gb.gemm(dy, dq(true), {}, 'dx') : undefined;
        ({ linear, rows: rowsOf } = nbitsOps(g, name, nbitsFromInt4(quant), rows, cols, backward, { scales }));
      }
      // The head's logits (many rows) and a table read whole (the head's gradient, trained token
      // rows) use the same int8 copy: the gradient of the logits as computed, and a per-row
      // expansion costs a seventh of the int4 blocks' (45 -> 6 ms per step for the 49k-row table).
      logits = (x, op) => asInt8().logits(x, op);
      tableExpansion = () => asInt8().expanded();
    }
  } else {
    const quant = quantizeInt8Rows(t);
    q = lazy(() => g.initializer(`${name}.q8`, 'int8', shape, bytesOf(quant.q)));
    scales = lazy(() => g.initializer(`${name}.scales`, 'float32', [rows], bytesOf(quant.scales)));
    attrs = { axis: attr.int(0) };
    if (compressed) ({ linear, rows: rowsOf, logits } = int8Ops(g, name, quant, rows, cols, q, opts.training, scales));
  }
  // Only the backward expansion names its (zero) zero point, which keeps it a distinct node.
  const zero = lazy(() =>
    int4
      ? g.initializer(`${name}.zero`, 'int4', [rows, cols / INT4_BLOCK], new Uint8Array(Math.ceil((rows * cols) / INT4_BLOCK / 2)))
      : g.initializer(`${name}.zero`, 'int8', [rows], new Uint8Array(rows)),
  );
  const dq = (again: boolean) =>
    g.op('DequantizeLinear', again ? [q(), scales(), zero()] : [q(), scales()], attrs, { name: again ? `${name}_again` : name, outputs: [{ dtype: 'float32', shape }] })[0];
  const first = lazy(() => (tableExpansion ? tableExpansion() : compressed ? readOnce(g, dq(false), `${name}.expanded`) : dq(false)));
  return { expand: (again) => (again ? dq(true) : first()), linear, rows: rowsOf, logits };
}

/**
 * x [M, K] as uint8 with a zero point of 128 and one scale per row (max |x| / 127): per-token
 * quantization keeps one token's large values from flattening every other token's. One
 * QuantizeLinear along the rows does the divide, round, shift and cast in a single pass.
 */
function quantizeRows(g: GraphBuilder, x: Value, name: string): { q: Value; scale: Value } {
  const amax = g.max(g.reduceMax(x, [-1], true, `${name}_max`), g.neg(g.reduceMin(x, [-1], true, `${name}_min`), `${name}_negmin`), `${name}_amax`);
  const scale = g.div(g.max(amax, g.scalar(1e-30), `${name}_amax_pos`), g.scalar(127), `${name}_scale`); // [M, 1]
  const perRow = g.reshape(scale, [x.shape?.[0] ?? 'rows'], `${name}_scale_rows`);
  const zero = g.expand(g.constant('uint8', [1], [128], `${name}_zero1`), g.shapeOf(perRow, 0, 1, `${name}_rows`), perRow.shape, `${name}_zero`);
  const [q] = g.op('QuantizeLinear', [x, perRow, zero], { axis: attr.int(0) }, { name: `${name}_q`, outputs: [{ dtype: 'uint8', shape: x.shape }] });
  return { q: q!, scale };
}

/**
 * x Q^T (diag(colScales)) for an int8 matrix Q [N, K] stored transposed ([K, N], MatMulInteger's
 * B), in F32: MatMulIntegerToFloat applies the column scales as it writes its output, and the
 * rows' scales follow in one Mul (its own activation scale is a single number).
 */
function integerProduct(g: GraphBuilder, x: Value, qT: Value, n: number, name: string, colScales?: Value): Value {
  g.opsets.set('com.microsoft', 1);
  const { q, scale } = quantizeRows(g, x, `${name}_x`);
  const [acc] = g.op('MatMulIntegerToFloat', [q, qT, g.scalar(1), colScales ?? g.scalar(1), g.scalar(128, 'uint8')], {}, { name: `${name}_int`, domain: 'com.microsoft', outputs: [{ dtype: 'float32', shape: x.shape && [x.shape[0], n] }] });
  return g.mul(acc!, scale, name);
}

/**
 * Attune int8 (W = diag(s) Q, per output row): y = (x Q^T) diag(s) through MatMulInteger against a
 * transposed copy of Q. The input gradient is exact in the same form: dx = dy W = (dy diag(s)) Q,
 * a second MatMulInteger against Q as stored ([out, in]) — the training graph keeps both copies
 * (2 bytes per weight, half of F32).
 */
function int8Ops(g: GraphBuilder, name: string, quant: QuantizedInt8, rows: number, cols: number, q: () => Value, training: boolean | undefined, scales: () => Value) {
  const qT = lazy(() => {
    const tr = new Int8Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) tr[c * rows + r] = quant.q[r * cols + c]!;
    return g.initializer(`${name}.q8t`, 'int8', [cols, rows], bytesOf(tr));
  });
  const product = (xin: Value, op: string) => integerProduct(g, xin, qT(), rows, op, scales());
  const linear = (x: Value, bias: Value | undefined, op: string) => {
    const forward = (xin: Value) => (bias ? g.add(product(xin, `${op}_nobias`), bias, op) : product(xin, op));
    const backward = training ? (gb: GraphBuilder, dy: Value) => integerProduct(gb, gb.mul(dy, scales(), 'dy_scaled'), q(), cols, 'dx') : undefined;
    return compressedLinear(g, x, forward, backward);
  };
  // Embedding rows: gather int8 rows and their scales.
  const rowsOf = (ids: Value, op: string) => {
    const q8 = g.gather(q(), ids, 0, `${op}_q`);
    const s = g.unsqueeze(g.gather(scales(), ids, 0, `${op}_s`), [-1], `${op}_scol`);
    return g.mul(g.cast(q8, 'float32', `${op}_qf`), s, op);
  };
  const expanded = lazy(() => readOnce(g, g.op('DequantizeLinear', [q(), scales()], { axis: attr.int(0) }, { name: `${name}.dq`, outputs: [{ dtype: 'float32', shape: [rows, cols] }] })[0]!, `${name}.expanded`));
  return { linear, rows: rowsOf, logits: product, expanded };
}

/**
 * A DequantizeLinear output read through a no-op Flatten: ORT gives every consumer of a
 * DequantizeLinear its own copy of the node (EnsureUniqueDQForNodeUnit), which would expand a
 * table read by several loss chunks once per chunk.
 */
function readOnce(g: GraphBuilder, expansion: Value, name: string): Value {
  return g.op('Flatten', [expansion], { axis: attr.int(1) }, { name, outputs: [{ dtype: 'float32', shape: expansion.shape }] })[0]!;
}

/**
 * dx = dy W for a GGUF block matrix in training through MatMulInteger: W (its values `w`, expanded)
 * quantized again to int8 with one scale per input column c, W ~ Q8 diag(c), so dx = (dy Q8) diag(c), with
 * Q8 [out, in] as stored (MatMulInteger's B [K = out, N = in]). 8 bits over each column's range
 * keep its grid points within half a step of 1/127 of the column's largest value.
 */
function int8ColumnGradient(g: GraphBuilder, name: string, w: Float32Array, rows: number, cols: number) {
  const amax = new Float32Array(cols);
  for (let i = 0; i < w.length; i++) amax[i % cols] = Math.max(amax[i % cols]!, Math.abs(w[i]!));
  const scale = amax.map((a) => (a > 0 ? a / 127 : 1));
  const q = new Int8Array(rows * cols);
  for (let i = 0; i < w.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(w[i]! / scale[i % cols]!)));
  const qInit = lazy(() => g.initializer(`${name}.q8cols`, 'int8', [rows, cols], bytesOf(q)));
  const sInit = lazy(() => g.initializer(`${name}.col_scales`, 'float32', [cols], bytesOf(scale)));
  return (gb: GraphBuilder, dy: Value) => integerProduct(gb, dy, qInit(), cols, 'dx', sInit());
}

/**
 * A MatMulNBits matrix (int4, GGUF Q8_0/Q4_0/Q4_K/Q6_K): y = MatMulNBits(x) (+ bias), accuracy
 * level 4 (int8 activations per block, integer dot products); `backward` gives the input gradient
 * dy W where it is wanted. With per-block offsets (Q4_K: W = s (q - 8) + offset over each block
 * of 32 inputs), y gains BlockSums(x) offsets^T: x summed over each block ([M, K / 32]) times the
 * offsets [N, K / 32], a product 1/32 the size of the main one, in F32.
 */
function nbitsOps(g: GraphBuilder, name: string, m: NBitsMatrix, rows: number, cols: number, backward: ((gb: GraphBuilder, dy: Value) => Value) | undefined, shared: { scales?: () => Value; offsets?: () => Value } = {}) {
  g.opsets.set('com.microsoft', 1);
  const blocks = cols / m.block;
  const blob = (m.block * m.bits) / 8;
  const b = lazy(() => g.initializer(`${name}.nbits`, 'uint8', [rows, blocks, blob], m.b));
  const scales = shared.scales ?? lazy(() => g.initializer(`${name}.scales`, 'float32', [rows, blocks], bytesOf(m.scales)));
  const offsets = m.offsets && (shared.offsets ?? lazy(() => g.initializer(`${name}.offsets`, 'float32', [rows, blocks], bytesOf(m.offsets!))));
  const linear = (x: Value, bias: Value | undefined, op: string) => {
    const forward = (xin: Value) => {
      const y = g.op('MatMulNBits', [xin, b(), scales(), null, null, bias ?? null], { K: attr.int(cols), N: attr.int(rows), bits: attr.int(m.bits), block_size: attr.int(m.block), accuracy_level: attr.int(4) }, { name: offsets ? `${op}_nbits` : op, domain: 'com.microsoft', outputs: [{ dtype: 'float32', shape: xin.shape && [xin.shape[0], rows] }] })[0];
      if (!offsets) return y;
      const sums = g.reduceSum(g.reshape(xin, [xin.shape?.[0] ?? 'rows', blocks, m.block], `${op}_xblocks`), [-1], false, `${op}_xsums`);
      return g.gemm(sums, offsets(), { transB: true, c: y }, op);
    };
    return compressedLinear(g, x, forward, backward);
  };
  // Embedding rows: gather the packed rows and expand only those.
  const rowsOf = (ids: Value, op: string) => {
    let q = g.gather(b(), ids, 0, `${op}_q`); // [N, blocks, blob]
    if (m.bits === 4) {
      const lo = g.op('BitwiseAnd', [q, g.scalar(15, 'uint8')], {}, { name: `${op}_lo`, outputs: [{ dtype: 'uint8', shape: null }] })[0];
      const hi = g.op('BitShift', [q, g.scalar(4, 'uint8')], { direction: attr.string('RIGHT') }, { name: `${op}_hi`, outputs: [{ dtype: 'uint8', shape: null }] })[0];
      q = g.concat([g.unsqueeze(lo, [-1], `${op}_lo1`), g.unsqueeze(hi, [-1], `${op}_hi1`)], -1, `${op}_pairs`); // [N, blocks, blob, 2]
    }
    const values = g.reshape(g.cast(q, 'float32', `${op}_qf`), ['tokens', blocks, m.block], `${op}_blocks`);
    const s = g.unsqueeze(g.gather(scales(), ids, 0, `${op}_s`), [-1], `${op}_scol`); // [N, blocks, 1]
    let w = g.mul(g.sub(values, g.scalar(m.bits === 4 ? 8 : 128), `${op}_centred`), s, `${op}_scaled`);
    if (offsets) w = g.add(w, g.unsqueeze(g.gather(offsets(), ids, 0, `${op}_o`), [-1], `${op}_ocol`), `${op}_offset`);
    return g.reshape(w, ['tokens', cols], op);
  };
  return { linear, rows: rowsOf };
}
