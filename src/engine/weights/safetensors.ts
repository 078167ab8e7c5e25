// safetensors reader/writer. Layout: u64 LE header length N, N bytes of JSON
// ({name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {str: str}}), then the data
// area; offsets are relative to the start of the data area. Every number in the header is
// checked against the file before any byte is trusted.
import { closeSync, openSync, readSync } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { corrupt, mismatch, unsupported, WeightsError } from './errors.js';
import { bf16BytesToF32, bf16BytesToF32Into, f16BytesToF32, f16BytesToF32Into, f32BytesToF32, f32ToBf16Bytes, f32ToBytes, f32ToF16Bytes } from './half.js';

export const SAFETENSORS_DTYPE_BYTES = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4,
  U64: 8, I64: 8, F64: 8,
} as const;
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_BYTES;

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** a view into the file's bytes (little-endian) */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const isDtype = (d: unknown): d is SafetensorsDtype =>
  typeof d === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BYTES, d);

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

export async function readSafetensors(filePath: string): Promise<SafetensorsFile> {
  return readSafetensorsMapped(filePath, (_, t) => t);
}

/**
 * Reads a file tensor by tensor with positional reads (so files over 2 GiB, such as a 1.5B
 * model's single model.safetensors, read fine), handing each tensor to `map` as it arrives:
 * a caller that converts (BF16 -> F32, say) holds the raw bytes of one tensor at a time.
 */
export async function readSafetensorsMapped<T>(filePath: string, map: (name: string, t: SafetensorsTensor) => T): Promise<{ tensors: Map<string, T>; metadata: Record<string, string> }> {
  return withHeader(filePath, async (fh, { entries, metadata, dataStart }) => {
    const tensors = new Map<string, T>();
    for (const e of entries) {
      const bytes = new Uint8Array(e.end - e.begin);
      await readFully(fh, bytes, dataStart + e.begin, filePath);
      tensors.set(e.name, map(e.name, { dtype: e.dtype, shape: e.shape, bytes }));
    }
    return { tensors, metadata };
  });
}

/** Reads `into.byteLength` bytes at `position` (a single read stops at 2 GiB). */
async function readFully(fh: FileHandle, into: Uint8Array, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < into.byteLength) {
    const { bytesRead } = await fh.read(into, done, Math.min(into.byteLength - done, 1 << 30), position + done);
    if (bytesRead === 0) throw corrupt(file, undefined, 'the file ended before its last tensor; it is truncated');
    done += bytesRead;
  }
}

/** Opens a file, checks its header against its size, and runs `fn` with the parsed entries. */
async function withHeader<T>(filePath: string, fn: (fh: FileHandle, h: { entries: HeaderEntry[]; metadata: Record<string, string>; dataStart: number }) => Promise<T>): Promise<T> {
  let fh: FileHandle;
  try {
    fh = await open(filePath, 'r');
  } catch (e) {
    throw new WeightsError('weights.io', filePath, undefined, `cannot read the file (${(e as Error).message})`);
  }
  try {
    const size = (await fh.stat()).size;
    if (size < 8) throw corrupt(filePath, undefined, `the file is only ${size} bytes, too short for a safetensors header; the file is truncated or not a safetensors file`);
    const lenBuf = Buffer.alloc(8);
    await readFully(fh, lenBuf, 0, filePath);
    const headerLen = checkedHeaderLength(lenBuf.readBigUInt64LE(0), size, filePath);
    const header = Buffer.alloc(headerLen);
    await readFully(fh, header, 8, filePath);
    const { entries, metadata } = parseHeader(header, size - 8 - headerLen, filePath);
    return await fn(fh, { entries, metadata, dataStart: 8 + headerLen });
  } finally {
    await fh.close();
  }
}

/** Parses a whole safetensors file held in memory; `file` is only used in messages. */
export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  if (bytes.byteLength < 8) throw corrupt(file, undefined, `the file is only ${bytes.byteLength} bytes, too short for a safetensors header; the file is truncated or not a safetensors file`);
  const headerLen = checkedHeaderLength(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true), bytes.byteLength, file);
  const dataStart = 8 + headerLen;
  const { entries, metadata } = parseHeader(bytes.subarray(8, dataStart), bytes.byteLength - dataStart, file);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, bytes: bytes.subarray(dataStart + e.begin, dataStart + e.end) });
  }
  return { tensors, metadata };
}

/** Where one tensor's bytes are: enough to read it alone later (`readTensorAt`). */
export interface TensorLocation {
  dtype: SafetensorsDtype;
  shape: number[];
  file: string;
  /** Absolute byte offset in `file`. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorLocation>;
  metadata: Record<string, string>;
}

/** Reads one tensor's bytes from its file, synchronously (graph building is synchronous). */
export function readTensorAt(loc: TensorLocation): SafetensorsTensor {
  const bytes = new Uint8Array(loc.byteLength);
  readBytesAt(loc, bytes);
  return { dtype: loc.dtype, shape: loc.shape, bytes };
}

/** A buffer reused from read to read (grown as needed), so that reading tensors one after another touches no new memory. */
export interface ReadScratch {
  bytes?: Uint8Array;
}

/**
 * Reads one floating-point tensor's values as F32 into `out` (as many elements as it has): F32
 * straight from the file into `out`, F16 and BF16 through `scratch`. Nothing else is allocated:
 * fresh pages are costly (a 135M model's 540 MB read into new arrays took 0.9-1.8 s here, the same
 * bytes through one reused buffer 0.1 s).
 */
export function readTensorF32Into(loc: TensorLocation, out: Float32Array, scratch: ReadScratch, name = 'tensor'): void {
  const count = loc.shape.reduce((a, b) => a * b, 1);
  if (out.length !== count) throw new Error(`readTensorF32Into: ${name} has ${count} values, the target ${out.length}`);
  if (loc.dtype === 'F32') return readBytesAt(loc, new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  if (loc.dtype !== 'F16' && loc.dtype !== 'BF16') {
    out.set(tensorToFloat32(readTensorAt(loc), name, loc.file));
    return;
  }
  if ((scratch.bytes?.byteLength ?? 0) < loc.byteLength) scratch.bytes = new Uint8Array(loc.byteLength);
  const raw = scratch.bytes!.subarray(0, loc.byteLength);
  readBytesAt(loc, raw);
  if (loc.dtype === 'F16') f16BytesToF32Into(raw, out);
  else bf16BytesToF32Into(raw, out);
}

function readBytesAt(loc: TensorLocation, bytes: Uint8Array): void {
  let fd: number;
  try {
    fd = openSync(loc.file, 'r');
  } catch (e) {
    throw new WeightsError('weights.io', loc.file, undefined, `cannot read the file (${(e as Error).message})`);
  }
  try {
    let done = 0;
    while (done < bytes.byteLength) {
      const n = readSync(fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 30), loc.offset + done);
      if (n === 0) throw corrupt(loc.file, undefined, 'the file is shorter than it was when the model was opened; it changed or is truncated');
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads and checks only the header (names, dtypes, shapes) against the file's size, without
 * reading the tensors: enough to validate a model folder before deciding to load its weights.
 */
export async function readSafetensorsHeader(filePath: string): Promise<SafetensorsHeader> {
  return withHeader(filePath, async (_, { entries, metadata, dataStart }) => ({
    tensors: new Map(entries.map((e) => [e.name, { dtype: e.dtype, shape: e.shape, file: filePath, offset: dataStart + e.begin, byteLength: e.end - e.begin }])),
    metadata,
  }));
}

/** Headers of every shard of a HF folder (`model.safetensors` or the index's shards). */
export async function readSafetensorsDirHeaders(dir: string): Promise<SafetensorsHeader> {
  return readShards(dir, readSafetensorsHeader);
}

/** Reads the single file or every shard with `readOne`, checking shards against the index. */
async function readShards<T>(dir: string, readOne: (file: string) => Promise<{ tensors: Map<string, T>; metadata: Record<string, string> }>) {
  const single = join(dir, 'model.safetensors');
  if (await stat(single).then((s) => s.isFile(), () => false)) return readOne(single);
  const index = await readSafetensorsIndex(dir);
  const tensors = new Map<string, T>();
  const metadata: Record<string, string> = {};
  for (const shard of index.shards) {
    const part = await readOne(join(dir, shard));
    Object.assign(metadata, part.metadata);
    for (const [name, t] of part.tensors) {
      const listed = index.weightMap.get(name);
      if (listed !== shard) throw mismatch(join(dir, shard), name, listed ? `tensor ${name} is in ${shard} but the index says ${listed}` : `tensor ${name} is in ${shard} but not in ${SAFETENSORS_INDEX}`);
      tensors.set(name, t);
    }
  }
  for (const [name, shard] of index.weightMap) {
    if (!tensors.has(name)) throw mismatch(join(dir, shard), name, `the index lists tensor ${name} in ${shard}, but that shard does not contain it; the download is incomplete or corrupt`);
  }
  return { tensors, metadata };
}

function checkedHeaderLength(n: bigint, fileSize: number, file: string): number {
  if (n > BigInt(fileSize - 8)) throw corrupt(file, undefined, `the header claims ${n} bytes but the file has only ${fileSize - 8} bytes after the length field; the file is truncated or not a safetensors file`);
  if (n > BigInt(MAX_HEADER_BYTES)) throw corrupt(file, undefined, `the header claims ${n} bytes, more than the 100 MB limit; the file is corrupt or not a safetensors file`);
  return Number(n);
}

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Checks the JSON header against a data area of `dataLen` bytes; never trusts an offset. */
function parseHeader(headerBytes: Uint8Array, dataLen: number, file: string): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw corrupt(file, undefined, `the header is not valid JSON (${(e as Error).message}); the file is corrupt or not a safetensors file`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw corrupt(file, undefined, 'the header is not a JSON object');
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw corrupt(file, name, '__metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw corrupt(file, `__metadata__.${k}`, `metadata value ${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof t !== 'object' || t === null) throw corrupt(file, name, `tensor ${name} has no description object`);
    if (!isDtype(t.dtype)) throw unsupported(file, name, `tensor ${name} has dtype ${JSON.stringify(t.dtype)}, which is not a safetensors dtype Attune knows (${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')})`);
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) throw corrupt(file, name, `tensor ${name} has shape ${JSON.stringify(t.shape)}; a shape must be a list of non-negative integers`);
    const off = t.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !isCount(off[0]) || !isCount(off[1])) throw corrupt(file, name, `tensor ${name} has data_offsets ${JSON.stringify(off)}; expected two non-negative integers`);
    const [begin, end] = off as [number, number];
    if (begin > end) throw corrupt(file, name, `tensor ${name} claims bytes ${begin}..${end}, which end before they begin; the file is corrupt`);
    if (end > dataLen) throw corrupt(file, name, `tensor ${name} claims bytes ${begin}..${end} but the file has only ${dataLen} bytes of data; the file is truncated or corrupt`);
    const shape = t.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[t.dtype];
    if (end - begin !== expected) throw corrupt(file, name, `tensor ${name} (${t.dtype} [${shape.join(', ')}]) needs ${expected} bytes but claims ${end - begin} (bytes ${begin}..${end}); the file is corrupt`);
    entries.push({ name, dtype: t.dtype, shape, begin, end });
  }
  // No two tensors may share bytes (zero-size tensors may sit anywhere).
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!, cur = sorted[i]!;
    if (cur.begin < prev.end) throw corrupt(file, cur.name, `tensor ${cur.name} (bytes ${cur.begin}..${cur.end}) overlaps tensor ${prev.name} (bytes ${prev.begin}..${prev.end}); the file is corrupt`);
  }
  return { entries, metadata };
}

/** Float32 copy (or view, for aligned F32) of a floating-point tensor. */
export function tensorToFloat32(t: SafetensorsTensor, name = 'tensor', file = 'safetensors'): Float32Array {
  switch (t.dtype) {
    case 'F32': return f32BytesToF32(t.bytes);
    case 'F16': return f16BytesToF32(t.bytes);
    case 'BF16': return bf16BytesToF32(t.bytes);
    case 'F64': {
      const src = t.bytes.byteOffset % 8 === 0 ? new Float64Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 8) : new Float64Array(t.bytes.slice().buffer);
      return Float32Array.from(src);
    }
    default:
      throw unsupported(file, name, `tensor ${name} is ${t.dtype}; Attune reads only F32, F16, BF16 and F64 weights`);
  }
}

export function float32ToTensor(data: Float32Array, shape: number[], dtype: 'F32' | 'F16' | 'BF16'): SafetensorsTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`shape [${shape.join(', ')}] has ${n} elements but the data has ${data.length}`);
  const bytes = dtype === 'F32' ? f32ToBytes(data) : dtype === 'F16' ? f32ToF16Bytes(data) : f32ToBf16Bytes(data);
  return { dtype, shape, bytes };
}

/** Writes tensors in the given order, header padded with spaces to 8 bytes (as HF does). */
export async function writeSafetensors(
  filePath: string,
  tensors: Map<string, SafetensorsTensor> | Iterable<[string, SafetensorsTensor]>,
  metadata?: Record<string, string>,
): Promise<void> {
  const list = [...tensors];
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw mismatch(filePath, name, 'a tensor cannot be called __metadata__');
    const need = t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[t.dtype];
    if (need !== t.bytes.byteLength) throw mismatch(filePath, name, `tensor ${name} (${t.dtype} [${t.shape.join(', ')}]) needs ${need} bytes but was given ${t.bytes.byteLength}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + need] };
    offset += need;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const head = Buffer.from(json, 'utf-8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(head.byteLength));
  await writeFileAtomic(filePath, async (write) => {
    await write(len);
    await write(head);
    for (const [, t] of list) await write(t.bytes);
  });
}

export interface SafetensorsIndex {
  /** shard file names, in first-seen order */
  shards: string[];
  /** tensor name -> shard file name */
  weightMap: Map<string, string>;
  metadata: Record<string, unknown>;
}

export const SAFETENSORS_INDEX = 'model.safetensors.index.json';

/** Reads `model.safetensors.index.json` in `dir` and checks that it names plain files that exist. */
export async function readSafetensorsIndex(dir: string): Promise<SafetensorsIndex> {
  const file = join(dir, SAFETENSORS_INDEX);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf-8'));
  } catch (e) {
    throw new WeightsError('weights.io', file, undefined, `cannot read the shard index (${(e as Error).message})`);
  }
  const wm = (raw as { weight_map?: unknown })?.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) throw corrupt(file, 'weight_map', 'the index has no weight_map object');
  const weightMap = new Map<string, string>();
  const shards: string[] = [];
  for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
    // Shard names must be files beside the index: no folders, no "..", nothing absolute.
    if (typeof shard !== 'string' || shard !== basename(shard) || shard === '..' || !shard.endsWith('.safetensors')) {
      throw corrupt(file, `weight_map.${name}`, `tensor ${name} maps to ${JSON.stringify(shard)}, which is not a .safetensors file name in this folder`);
    }
    weightMap.set(name, shard);
    if (!shards.includes(shard)) shards.push(shard);
  }
  for (const s of shards) {
    const st = await stat(join(dir, s)).catch(() => undefined);
    if (!st?.isFile()) throw corrupt(file, 'weight_map', `the index lists shard ${s}, which is missing from the folder; the download is incomplete`);
  }
  const metadata = ((raw as { metadata?: unknown }).metadata ?? {}) as Record<string, unknown>;
  return { shards, weightMap, metadata };
}

/**
 * Loads every tensor of a HF folder: `model.safetensors`, or the shards its index names. With an
 * index, the shards must hold exactly the tensors the index lists, each in the listed shard.
 */
export async function readSafetensorsDir(dir: string): Promise<SafetensorsFile> {
  return readShards(dir, readSafetensors);
}

/** Every shard of a HF folder, each tensor converted by `map` as it is read. */
export async function readSafetensorsDirMapped<T>(dir: string, map: (name: string, t: SafetensorsTensor) => T): Promise<{ tensors: Map<string, T>; metadata: Record<string, string> }> {
  return readShards(dir, (file) => readSafetensorsMapped(file, map));
}
