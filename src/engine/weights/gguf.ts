// GGUF v2/v3 reader and writer (ggml/docs/gguf.md). Layout, all little-endian:
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count,
//   kv_count x (string key, u32 value_type, value), tensor_count x (string name, u32 n_dims,
//   u64 ne[n_dims], u32 ggml_type, u64 offset), padding to `general.alignment` (default 32), data.
// Strings are u64 length + UTF-8 bytes. Tensor offsets are relative to the data area and aligned.
// `ne` lists dimensions innermost first; `shape` below is the row-major reverse (as numpy/HF).
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic.js';
import { corrupt, mismatch, unsupported, WeightsError } from './errors.js';
import { DEQUANTIZABLE, dequantize, ggmlNbytes, ggmlType, ggmlTypeById, type GgmlTypeInfo, type GgmlTypeName } from './quants.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as u32 LE
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** GGUF metadata value types (gguf_type). */
export const GgufValueType = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
export type GgufScalarType = Exclude<keyof typeof GgufValueType, 'ARRAY'>;
const TYPE_NAMES = Object.fromEntries(Object.entries(GgufValueType).map(([k, v]) => [v, k])) as Record<number, keyof typeof GgufValueType>;

/** 64-bit integers become numbers when they are safe integers, bigint otherwise. */
export type GgufScalar = number | bigint | boolean | string;
export type GgufValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: 'ARRAY'; itemType: GgufScalarType | 'ARRAY'; value: GgufScalar[] | GgufValue[] };

export interface GgufTensorInfo {
  name: string;
  type: GgmlTypeInfo;
  /** dimensions innermost first, as stored */
  ne: number[];
  /** row-major shape (reverse of ne), as HF/numpy write it */
  shape: number[];
  /** offset within the data area */
  offset: number;
  nbytes: number;
  /** view of the tensor's bytes in the file */
  bytes: Uint8Array;
}

export interface GgufFile {
  version: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  tensors: Map<string, GgufTensorInfo>;
  /** file offset where the data area starts */
  dataOffset: number;
}

// Small constructors so writers state the exact GGUF type of every value.
export const gv = {
  u8: (v: number): GgufValue => ({ type: 'UINT8', value: v }),
  i32: (v: number): GgufValue => ({ type: 'INT32', value: v }),
  u32: (v: number): GgufValue => ({ type: 'UINT32', value: v }),
  u64: (v: number | bigint): GgufValue => ({ type: 'UINT64', value: v }),
  f32: (v: number): GgufValue => ({ type: 'FLOAT32', value: v }),
  f64: (v: number): GgufValue => ({ type: 'FLOAT64', value: v }),
  bool: (v: boolean): GgufValue => ({ type: 'BOOL', value: v }),
  str: (v: string): GgufValue => ({ type: 'STRING', value: v }),
  arr: (itemType: GgufScalarType, value: GgufScalar[]): GgufValue => ({ type: 'ARRAY', itemType, value }),
};

/** Plain JS value of a metadata entry (arrays become arrays), or undefined when absent. */
export function metaValue(g: Pick<GgufFile, 'metadata'>, key: string): unknown {
  const v = g.metadata.get(key);
  if (!v) return undefined;
  if (v.type === 'ARRAY') return v.value.map((x) => (typeof x === 'object' ? (x as GgufValue).value : x));
  return v.value;
}

class Cursor {
  pos = 0;
  private readonly dv: DataView;
  private readonly dec = new TextDecoder('utf-8', { fatal: false });
  constructor(readonly bytes: Uint8Array, readonly file: string) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.bytes.byteLength) {
      throw corrupt(this.file, what, `${what} needs ${n} bytes at offset ${this.pos} but the file ends at ${this.bytes.byteLength}; the file is truncated or corrupt`);
    }
  }
  u8(w: string): number { this.need(1, w); return this.dv.getUint8(this.pos++); }
  i8(w: string): number { this.need(1, w); return this.dv.getInt8(this.pos++); }
  u16(w: string): number { this.need(2, w); const v = this.dv.getUint16(this.pos, true); this.pos += 2; return v; }
  i16(w: string): number { this.need(2, w); const v = this.dv.getInt16(this.pos, true); this.pos += 2; return v; }
  u32(w: string): number { this.need(4, w); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  i32(w: string): number { this.need(4, w); const v = this.dv.getInt32(this.pos, true); this.pos += 4; return v; }
  f32(w: string): number { this.need(4, w); const v = this.dv.getFloat32(this.pos, true); this.pos += 4; return v; }
  f64(w: string): number { this.need(8, w); const v = this.dv.getFloat64(this.pos, true); this.pos += 8; return v; }
  u64(w: string): number | bigint { this.need(8, w); const v = this.dv.getBigUint64(this.pos, true); this.pos += 8; return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
  i64(w: string): number | bigint { this.need(8, w); const v = this.dv.getBigInt64(this.pos, true); this.pos += 8; return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
  /** a u64 count that must fit in what is left of the file, given each item needs >= `unit` bytes */
  count(w: string, unit: number): number {
    const n = this.u64(w);
    const left = this.bytes.byteLength - this.pos;
    if (typeof n === 'bigint' || n * unit > left) throw corrupt(this.file, w, `${w} is ${n}, more than the ${left} remaining bytes can hold; the file is truncated or corrupt`);
    return n;
  }
  str(w: string): string {
    const n = this.count(w, 1);
    const s = this.dec.decode(this.bytes.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
}

const SCALAR_SIZE: Record<GgufScalarType, number> = {
  UINT8: 1, INT8: 1, BOOL: 1, UINT16: 2, INT16: 2, UINT32: 4, INT32: 4, FLOAT32: 4,
  UINT64: 8, INT64: 8, FLOAT64: 8, STRING: 8,
};

function readScalar(c: Cursor, t: GgufScalarType, w: string): GgufScalar {
  switch (t) {
    case 'UINT8': return c.u8(w);
    case 'INT8': return c.i8(w);
    case 'UINT16': return c.u16(w);
    case 'INT16': return c.i16(w);
    case 'UINT32': return c.u32(w);
    case 'INT32': return c.i32(w);
    case 'FLOAT32': return c.f32(w);
    case 'BOOL': {
      const b = c.u8(w);
      if (b > 1) throw corrupt(c.file, w, `${w} is a bool stored as ${b}; only 0 and 1 are valid`);
      return b === 1;
    }
    case 'STRING': return c.str(w);
    case 'UINT64': return c.u64(w);
    case 'INT64': return c.i64(w);
    case 'FLOAT64': return c.f64(w);
  }
}

function valueType(c: Cursor, w: string): keyof typeof GgufValueType {
  const id = c.u32(w);
  const t = TYPE_NAMES[id];
  if (!t) throw corrupt(c.file, w, `${w} has value type ${id}, which is not a GGUF type (0..12); the file is corrupt`);
  return t;
}

function readValue(c: Cursor, key: string, depth = 0): GgufValue {
  const t = valueType(c, `metadata ${key}`);
  if (t !== 'ARRAY') return { type: t, value: readScalar(c, t, `metadata ${key}`) };
  const itemType = valueType(c, `metadata ${key} (array item type)`);
  if (itemType === 'ARRAY') {
    if (depth > 4) throw corrupt(c.file, key, `metadata ${key} nests arrays more than 4 deep`);
    const n = c.count(`metadata ${key} (array length)`, 12);
    const value: GgufValue[] = [];
    for (let i = 0; i < n; i++) {
      // Nested arrays carry their own item type and length (no outer type tag per item).
      const inner = valueType(c, `metadata ${key}[${i}]`);
      if (inner === 'ARRAY') throw unsupported(c.file, key, `metadata ${key} nests arrays of arrays, which Attune does not read`);
      const m = c.count(`metadata ${key}[${i}] (array length)`, SCALAR_SIZE[inner]);
      const items: GgufScalar[] = [];
      for (let j = 0; j < m; j++) items.push(readScalar(c, inner, `metadata ${key}[${i}][${j}]`));
      value.push({ type: 'ARRAY', itemType: inner, value: items });
    }
    return { type: 'ARRAY', itemType, value };
  }
  const n = c.count(`metadata ${key} (array length)`, SCALAR_SIZE[itemType]);
  const value: GgufScalar[] = new Array(n);
  for (let i = 0; i < n; i++) value[i] = readScalar(c, itemType, `metadata ${key}[${i}]`);
  return { type: 'ARRAY', itemType, value };
}

export async function readGguf(filePath: string): Promise<GgufFile> {
  let buf: Buffer;
  try {
    buf = await readFile(filePath);
  } catch (e) {
    throw new WeightsError('weights.io', filePath, undefined, `cannot read the file (${(e as Error).message})`);
  }
  return parseGguf(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), filePath);
}

/** Parses a whole GGUF file held in memory; `file` is only used in messages. */
export function parseGguf(bytes: Uint8Array, file: string): GgufFile {
  const c = new Cursor(bytes, file);
  if (bytes.byteLength < 4 || c.u32('magic') !== GGUF_MAGIC) throw corrupt(file, 'magic', 'the file does not start with "GGUF"; it is not a GGUF file');
  const version = c.u32('version');
  if (version === 1) throw unsupported(file, 'version', 'this is a GGUF version 1 file (2023); Attune reads versions 2 and 3: convert it again with a current llama.cpp');
  if ((version & 0xffff) === 0 && [2, 3].includes(version >>> 24)) throw unsupported(file, 'version', 'this is a big-endian GGUF file; Attune reads only little-endian GGUF');
  if (version !== 2 && version !== 3) throw unsupported(file, 'version', `GGUF version ${version} is not one Attune reads (2 or 3)`);
  // Each tensor info takes >= 24 bytes, each key/value >= 13: this bounds the counts by the file.
  const tensorCount = c.count('tensor count', 24);
  const kvCount = c.count('metadata count', 13);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.str(`metadata key #${i}`);
    if (metadata.has(key)) throw corrupt(file, key, `metadata key ${key} appears twice`);
    metadata.set(key, readValue(c, key));
  }
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = metadata.get('general.alignment');
  if (al) {
    const a = al.value;
    if (al.type !== 'UINT32' || typeof a !== 'number' || a === 0 || (a & (a - 1)) !== 0) {
      throw corrupt(file, 'general.alignment', `general.alignment must be a power of two stored as UINT32, got ${al.type} ${String(a)}`);
    }
    alignment = a;
  }

  const infos: Omit<GgufTensorInfo, 'bytes'>[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = c.str(`tensor #${i} name`);
    if (seen.has(name)) throw corrupt(file, name, `tensor ${name} appears twice`);
    seen.add(name);
    const nDims = c.u32(`tensor ${name} dimension count`);
    if (nDims < 1 || nDims > 4) throw corrupt(file, name, `tensor ${name} has ${nDims} dimensions; GGUF allows 1 to 4`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const v = c.u64(`tensor ${name} dimension ${d}`);
      if (typeof v === 'bigint') throw corrupt(file, name, `tensor ${name} dimension ${d} is ${v}, impossibly large`);
      ne.push(v);
    }
    const typeId = c.u32(`tensor ${name} type`);
    const type = ggmlTypeById(typeId);
    if (!type) throw unsupported(file, name, `tensor ${name} uses ggml type id ${typeId}, which Attune does not know`);
    const offset = c.u64(`tensor ${name} offset`);
    if (typeof offset === 'bigint') throw corrupt(file, name, `tensor ${name} has an impossibly large offset ${offset}`);
    if (offset % alignment) throw corrupt(file, name, `tensor ${name} starts at data offset ${offset}, which is not a multiple of the alignment ${alignment}; the file is corrupt`);
    if (ne[0]! % type.blockSize) throw corrupt(file, name, `tensor ${name} has rows of ${ne[0]} values, not a multiple of the ${type.name} block size ${type.blockSize}`);
    const n = ne.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(n)) throw corrupt(file, name, `tensor ${name} has ${ne.join(' x ')} values, impossibly many`);
    infos.push({ name, type, ne, shape: [...ne].reverse(), offset, nbytes: ggmlNbytes(type, ne) });
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  const dataLen = Math.max(0, bytes.byteLength - dataOffset);
  for (const t of infos) {
    if (t.offset + t.nbytes > dataLen) {
      throw corrupt(file, t.name, `tensor ${t.name} claims bytes ${t.offset}..${t.offset + t.nbytes} but the file has only ${dataLen} bytes of data; the file is truncated or corrupt`);
    }
  }
  const sorted = infos.filter((t) => t.nbytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1]!, t = sorted[i]!;
    if (t.offset < p.offset + p.nbytes) throw corrupt(file, t.name, `tensor ${t.name} (bytes ${t.offset}..${t.offset + t.nbytes}) overlaps tensor ${p.name} (bytes ${p.offset}..${p.offset + p.nbytes}); the file is corrupt`);
  }
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of infos) tensors.set(t.name, { ...t, bytes: bytes.subarray(dataOffset + t.offset, dataOffset + t.offset + t.nbytes) });
  return { version, alignment, metadata, tensors, dataOffset };
}

/** Float32 values of a tensor, row-major; names the tensor and type when it cannot. */
export function ggufTensorToFloat32(t: GgufTensorInfo, file = 'model.gguf'): Float32Array {
  if (!(DEQUANTIZABLE as readonly string[]).includes(t.type.name)) {
    throw unsupported(file, t.name, `tensor ${t.name} uses GGUF type ${t.type.name}, which Attune cannot read yet; supported: ${DEQUANTIZABLE.join(', ')}`);
  }
  return dequantize(t.type.name, t.bytes, t.ne.reduce((a, b) => a * b, 1));
}

// ---- writer ----

export interface GgufTensorToWrite {
  name: string;
  type: GgmlTypeName;
  /** row-major shape (HF order); written reversed as ne */
  shape: number[];
  bytes: Uint8Array;
}

class Out {
  chunks: Uint8Array[] = [];
  length = 0;
  private push(b: Uint8Array): void { this.chunks.push(b); this.length += b.byteLength; }
  private num(n: number, set: (dv: DataView) => void): void { const b = new Uint8Array(n); set(new DataView(b.buffer)); this.push(b); }
  u8(v: number): void { this.num(1, (d) => d.setUint8(0, v)); }
  i8(v: number): void { this.num(1, (d) => d.setInt8(0, v)); }
  u16(v: number): void { this.num(2, (d) => d.setUint16(0, v, true)); }
  i16(v: number): void { this.num(2, (d) => d.setInt16(0, v, true)); }
  u32(v: number): void { this.num(4, (d) => d.setUint32(0, v, true)); }
  i32(v: number): void { this.num(4, (d) => d.setInt32(0, v, true)); }
  f32(v: number): void { this.num(4, (d) => d.setFloat32(0, v, true)); }
  f64(v: number): void { this.num(8, (d) => d.setFloat64(0, v, true)); }
  u64(v: number | bigint): void { this.num(8, (d) => d.setBigUint64(0, BigInt(v), true)); }
  i64(v: number | bigint): void { this.num(8, (d) => d.setBigInt64(0, BigInt(v), true)); }
  str(s: string): void { const b = new TextEncoder().encode(s); this.u64(b.byteLength); this.push(b); }
  pad(alignment: number): void { const n = (alignment - (this.length % alignment)) % alignment; if (n) this.push(new Uint8Array(n)); }
}

function writeScalar(o: Out, t: GgufScalarType, v: GgufScalar, key: string, file: string): void {
  const bad = (): WeightsError => mismatch(file, key, `metadata ${key}: value ${String(v)} does not fit GGUF type ${t}`);
  if (t === 'STRING') { if (typeof v !== 'string') throw bad(); o.str(v); return; }
  if (t === 'BOOL') { if (typeof v !== 'boolean') throw bad(); o.u8(v ? 1 : 0); return; }
  if (t === 'UINT64' || t === 'INT64') {
    if (typeof v !== 'number' && typeof v !== 'bigint') throw bad();
    if (t === 'UINT64') o.u64(v); else o.i64(v);
    return;
  }
  if (typeof v !== 'number') throw bad();
  const int = (lo: number, hi: number): void => { if (!Number.isInteger(v) || v < lo || v > hi) throw bad(); };
  switch (t) {
    case 'UINT8': int(0, 255); o.u8(v); break;
    case 'INT8': int(-128, 127); o.i8(v); break;
    case 'UINT16': int(0, 65535); o.u16(v); break;
    case 'INT16': int(-32768, 32767); o.i16(v); break;
    case 'UINT32': int(0, 2 ** 32 - 1); o.u32(v); break;
    case 'INT32': int(-(2 ** 31), 2 ** 31 - 1); o.i32(v); break;
    case 'FLOAT32': o.f32(v); break;
    case 'FLOAT64': o.f64(v); break;
  }
}

function writeValue(o: Out, v: GgufValue, key: string, file: string): void {
  o.u32(GgufValueType[v.type]);
  if (v.type !== 'ARRAY') { writeScalar(o, v.type, v.value, key, file); return; }
  o.u32(GgufValueType[v.itemType]);
  o.u64(v.value.length);
  for (const item of v.value) {
    if (v.itemType === 'ARRAY') {
      const inner = item as GgufValue;
      if (inner.type !== 'ARRAY' || inner.itemType === 'ARRAY') throw mismatch(file, key, `metadata ${key}: nested arrays must hold scalars`);
      o.u32(GgufValueType[inner.itemType]);
      o.u64(inner.value.length);
      for (const x of inner.value) writeScalar(o, inner.itemType, x as GgufScalar, key, file);
    } else writeScalar(o, v.itemType, item as GgufScalar, key, file);
  }
}

/**
 * Writes a GGUF v3 file atomically. Metadata is written in the given order; `general.alignment`
 * is added when the alignment is not the default 32. Tensor data is padded to the alignment.
 */
export async function writeGguf(
  filePath: string,
  metadata: Map<string, GgufValue> | Iterable<[string, GgufValue]>,
  tensors: GgufTensorToWrite[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): Promise<void> {
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1))) throw mismatch(filePath, 'general.alignment', `alignment ${alignment} is not a power of two`);
  const kv = new Map(metadata);
  if (alignment !== GGUF_DEFAULT_ALIGNMENT) kv.set('general.alignment', gv.u32(alignment));
  else if (kv.has('general.alignment') && kv.get('general.alignment')!.value !== alignment) throw mismatch(filePath, 'general.alignment', 'metadata general.alignment disagrees with the alignment argument');

  const o = new Out();
  o.u32(GGUF_MAGIC);
  o.u32(3);
  o.u64(tensors.length);
  o.u64(kv.size);
  for (const [key, v] of kv) { o.str(key); writeValue(o, v, key, filePath); }
  let offset = 0;
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw mismatch(filePath, t.name, `tensor ${t.name} is given twice`);
    names.add(t.name);
    const info = ggmlType(t.type);
    const ne = [...t.shape].reverse();
    if (ne.length < 1 || ne.length > 4) throw mismatch(filePath, t.name, `tensor ${t.name} has ${ne.length} dimensions; GGUF allows 1 to 4`);
    if (ne[0]! % info.blockSize) throw mismatch(filePath, t.name, `tensor ${t.name} has rows of ${ne[0]} values, not a multiple of the ${t.type} block size ${info.blockSize}`);
    const need = ggmlNbytes(info, ne);
    if (need !== t.bytes.byteLength) throw mismatch(filePath, t.name, `tensor ${t.name} (${t.type} [${t.shape.join(', ')}]) needs ${need} bytes but was given ${t.bytes.byteLength}`);
    o.str(t.name);
    o.u32(ne.length);
    for (const d of ne) o.u64(d);
    o.u32(info.id);
    o.u64(offset);
    offset += Math.ceil(need / alignment) * alignment;
  }
  o.pad(alignment);
  const pad = new Uint8Array(alignment);
  await writeFileAtomic(filePath, async (write) => {
    for (const ch of o.chunks) await write(ch);
    for (const t of tensors) {
      await write(t.bytes);
      const p = (alignment - (t.bytes.byteLength % alignment)) % alignment;
      if (p) await write(pad.subarray(0, p));
    }
  });
}
