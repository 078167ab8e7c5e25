/**
 * Text encodings of imported files: sniffed from the first bytes, decoded as a stream.
 *
 * Order of the guess: a byte-order mark (UTF-8, UTF-16 LE/BE); UTF-16 without a mark (many zero
 * bytes on one side); valid UTF-8; otherwise Windows-1252 (what Excel on Western Windows saves as
 * "CSV"). A UTF-8 file that turns invalid after the sample decodes with U+FFFD, which the
 * validator reports per row (data.encoding-invalid): nothing is silently altered.
 */
import { createReadStream } from 'node:fs';
import iconv from 'iconv-lite';

export type TextEncoding = 'utf-8' | 'utf-16le' | 'utf-16be' | 'windows-1252';

export const ENCODING_NAMES: Record<TextEncoding, string> = {
  'utf-8': 'UTF-8',
  'utf-16le': 'UTF-16 (little-endian)',
  'utf-16be': 'UTF-16 (big-endian)',
  'windows-1252': 'Windows-1252 (Western European)',
};

export interface SniffedEncoding {
  encoding: TextEncoding;
  /** Bytes of the byte-order mark to skip. */
  bomLength: number;
  hasBom: boolean;
}

export function sniffEncoding(sample: Uint8Array): SniffedEncoding {
  if (sample.length >= 3 && sample[0] === 0xef && sample[1] === 0xbb && sample[2] === 0xbf) return { encoding: 'utf-8', bomLength: 3, hasBom: true };
  if (sample.length >= 2 && sample[0] === 0xff && sample[1] === 0xfe) return { encoding: 'utf-16le', bomLength: 2, hasBom: true };
  if (sample.length >= 2 && sample[0] === 0xfe && sample[1] === 0xff) return { encoding: 'utf-16be', bomLength: 2, hasBom: true };
  // UTF-16 without a mark: text in Latin script has a zero byte in every other position.
  const n = Math.min(sample.length, 4096) & ~1;
  if (n >= 4) {
    let zeroEven = 0;
    let zeroOdd = 0;
    for (let i = 0; i < n; i += 2) {
      if (sample[i] === 0) zeroEven++;
      if (sample[i + 1] === 0) zeroOdd++;
    }
    const pairs = n / 2;
    if (zeroOdd > pairs * 0.3 && zeroEven < pairs * 0.05) return { encoding: 'utf-16le', bomLength: 0, hasBom: false };
    if (zeroEven > pairs * 0.3 && zeroOdd < pairs * 0.05) return { encoding: 'utf-16be', bomLength: 0, hasBom: false };
  }
  if (isValidUtf8(sample)) return { encoding: 'utf-8', bomLength: 0, hasBom: false };
  return { encoding: 'windows-1252', bomLength: 0, hasBom: false };
}

/** Valid UTF-8, allowing the sample to end in the middle of a character. */
function isValidUtf8(sample: Uint8Array): boolean {
  let end = sample.length;
  // Back off an incomplete trailing sequence (at most 3 bytes).
  for (let k = 1; k <= 3 && end - k >= 0; k++) {
    const b = sample[end - k]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte
    if (b >= 0xc0) {
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      if (need > k) end -= k;
    }
    break;
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(sample.subarray(0, end));
    return true;
  } catch {
    return false;
  }
}

/** A streaming decoder: bytes in, text out; handles characters split between chunks. */
export interface StreamDecoder {
  write(chunk: Uint8Array): string;
  end(): string;
}

export function createDecoder(encoding: TextEncoding): StreamDecoder {
  if (encoding === 'utf-8') {
    const d = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
    return { write: (c) => d.decode(c, { stream: true }), end: () => d.decode() };
  }
  const d = iconv.getDecoder(encoding === 'windows-1252' ? 'win1252' : encoding, { stripBOM: false });
  return { write: (c) => d.write(Buffer.from(c.buffer, c.byteOffset, c.byteLength)), end: () => d.end() ?? '' };
}

/** Decodes a whole buffer (small files, samples). */
export function decodeBuffer(buf: Uint8Array, sniffed: SniffedEncoding): string {
  const d = createDecoder(sniffed.encoding);
  return d.write(buf.subarray(sniffed.bomLength)) + d.end();
}

/**
 * Reads a file as text chunks in the given encoding, skipping the byte-order mark.
 * `onBytes` is told how many bytes have been read so far (for progress).
 */
export async function* readTextChunks(
  file: string,
  sniffed: SniffedEncoding,
  onBytes?: (bytesRead: number) => void,
): AsyncGenerator<string> {
  const decoder = createDecoder(sniffed.encoding);
  let bytes = 0;
  let skip = sniffed.bomLength;
  for await (const raw of createReadStream(file, { highWaterMark: 1 << 16 })) {
    let chunk = raw as Buffer;
    bytes += chunk.length;
    if (skip > 0) {
      const s = Math.min(skip, chunk.length);
      chunk = chunk.subarray(s);
      skip -= s;
    }
    const text = decoder.write(chunk);
    onBytes?.(bytes);
    if (text) yield text;
  }
  const rest = decoder.end();
  if (rest) yield rest;
}

export interface TextLine {
  /** 1-based line number. */
  line: number;
  text: string;
  /** The line exceeded the limit; `text` is empty and the line was skipped. */
  tooLong?: boolean;
}

/**
 * Splits text chunks into lines (\n, \r\n or \r) without holding more than one line; a line
 * longer than `maxChars` is skipped and reported as `tooLong` (bounded memory on files without
 * line breaks).
 */
export async function* splitLines(chunks: AsyncIterable<string>, maxChars = 64 * 1024 * 1024): AsyncGenerator<TextLine> {
  let parts: string[] = [];
  let partLen = 0;
  let tooLong = false;
  let line = 1;
  let pendingCR = false;
  for await (const chunk of chunks) {
    let start = 0;
    let i = 0;
    if (pendingCR) {
      pendingCR = false;
      if (chunk.charCodeAt(0) === 10) start = i = 1; // \r\n split across chunks
    }
    for (; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      if (!tooLong) parts.push(chunk.slice(start, i));
      yield tooLong ? { line, text: '', tooLong: true } : { line, text: parts.join('') };
      parts = [];
      partLen = 0;
      tooLong = false;
      line++;
      if (c === 13) {
        if (i + 1 < chunk.length) {
          if (chunk.charCodeAt(i + 1) === 10) i++;
        } else pendingCR = true;
      }
      start = i + 1;
    }
    if (start < chunk.length && !tooLong) {
      const rest = chunk.slice(start);
      partLen += rest.length;
      if (partLen > maxChars) {
        tooLong = true;
        parts = [];
      } else parts.push(rest);
    }
  }
  if (tooLong) yield { line, text: '', tooLong: true };
  else if (parts.length > 0 && partLen > 0) yield { line, text: parts.join('') };
}
