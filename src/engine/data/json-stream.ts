/**
 * A top-level JSON array read element by element from text chunks, with the line each element
 * starts on, so that a large `[...]` file needs memory for one element at a time and a broken
 * element costs only itself (as long as its brackets balance).
 */

export type JsonItem =
  | { kind: 'value'; index: number; line: number; value: unknown }
  | { kind: 'error'; index: number; line: number; detail: string }
  /** Something about the file as a whole (text after the closing `]`, a missing `]`). */
  | { kind: 'note'; line: number; detail: string };

const WS = new Set([32, 9, 10, 13, 0xfeff]);

export function jsonErrorDetail(err: unknown): string {
  const msg = (err as Error).message ?? String(err);
  return msg.replace(/^JSON\.parse: /, '').replace(/\s+/g, ' ').slice(0, 160);
}

/**
 * Yields the elements of a top-level array. A top-level object is yielded whole as element 0
 * (`topLevel: 'object'` is then reported through `onTopLevel`).
 */
export async function* jsonArrayItems(
  chunks: AsyncIterable<string>,
  opts: { maxElementChars?: number; onTopLevel?: (kind: 'array' | 'object' | 'other') => void } = {},
): AsyncGenerator<JsonItem> {
  const maxChars = opts.maxElementChars ?? 64 * 1024 * 1024;
  type Phase = 'start' | 'array' | 'element' | 'after' | 'done';
  let phase: Phase = 'start';
  let topObject = false;
  let line = 1;
  let depth = 0;
  let inString = false;
  let escape = false;
  let parts: string[] = [];
  let partLen = 0;
  let tooBig = false;
  let elemLine = 1;
  let index = 0;
  let closed = false;

  const finish = (text: string): JsonItem => {
    const item: JsonItem = tooBig
      ? { kind: 'error', index, line: elemLine, detail: `the example is longer than ${maxChars} characters` }
      : (() => {
          try {
            return { kind: 'value', index, line: elemLine, value: JSON.parse(text) } as const;
          } catch (e) {
            return { kind: 'error', index, line: elemLine, detail: jsonErrorDetail(e) } as const;
          }
        })();
    index++;
    parts = [];
    partLen = 0;
    tooBig = false;
    return item;
  };

  for await (const chunk of chunks) {
    let seg = phase === 'element' ? 0 : -1;
    const out: JsonItem[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (phase === 'done') break;
      if (phase === 'start') {
        if (WS.has(c)) {
          if (c === 10) line++;
          continue;
        }
        if (c === 91 /* [ */) {
          phase = 'array';
          opts.onTopLevel?.('array');
          continue;
        }
        if (c === 123 /* { */) {
          topObject = true;
          opts.onTopLevel?.('object');
        } else opts.onTopLevel?.('other');
        phase = 'element';
        elemLine = line;
        seg = i;
        depth = 0;
        // fall through into element handling of this character
      } else if (phase === 'array') {
        if (WS.has(c) || c === 44 /* , */) {
          if (c === 10) line++;
          continue;
        }
        if (c === 93 /* ] */) {
          phase = 'after';
          closed = true;
          continue;
        }
        phase = 'element';
        elemLine = line;
        seg = i;
        depth = 0;
      } else if (phase === 'after') {
        if (WS.has(c)) {
          if (c === 10) line++;
          continue;
        }
        out.push({ kind: 'note', line, detail: 'there is more text after the closing "]" of the list; it was not read' });
        phase = 'done';
        break;
      }
      // phase === 'element'
      if (c === 10) line++;
      if (inString) {
        if (escape) escape = false;
        else if (c === 92 /* \ */) escape = true;
        else if (c === 34 /* " */) inString = false;
        continue;
      }
      if (c === 34) inString = true;
      else if (c === 123 || c === 91) depth++;
      else if (c === 125 || c === 93) {
        if (depth === 0) {
          // `]` closing the array right after a bare value (number, true, ...).
          parts.push(chunk.slice(seg, i));
          out.push(finish(parts.join('')));
          phase = 'after';
          closed = true;
          continue;
        }
        depth--;
        if (depth === 0) {
          if (!tooBig) parts.push(chunk.slice(seg, i + 1));
          out.push(finish(parts.join('')));
          phase = topObject ? 'after' : 'array';
        }
      } else if (c === 44 && depth === 0) {
        if (!tooBig) parts.push(chunk.slice(seg, i));
        out.push(finish(parts.join('')));
        phase = 'array';
      }
    }
    if (phase === 'element' && seg >= 0 && !tooBig) {
      const rest = chunk.slice(seg);
      partLen += rest.length;
      if (partLen > maxChars) {
        tooBig = true;
        parts = [];
      } else parts.push(rest);
    }
    yield* out;
  }
  if (phase === 'element') {
    const text = parts.join('');
    const item = finish(text);
    if (item.kind === 'value' && !topObject && phase === 'element') {
      // A bare value at the end of an array without `]`.
      yield item;
      yield { kind: 'note', line, detail: 'the list is not closed with "]" (the file may be cut short)' };
    } else if (item.kind === 'value') yield item;
    else yield { ...item, detail: `${item.detail} (the file ends in the middle of this example)` };
  } else if (phase === 'array' && !closed) {
    yield { kind: 'note', line, detail: 'the list is not closed with "]" (the file may be cut short)' };
  }
}
