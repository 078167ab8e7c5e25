/**
 * Tables (CSV/TSV and Excel): which column is the instruction, the optional context, the
 * response and the optional system prompt; and Excel cells as text.
 */
import type { ColumnMap } from './types.js';

export type ColumnRole = keyof ColumnMap;
export const COLUMN_ROLES: ColumnRole[] = ['instruction', 'context', 'response', 'system'];

const SYNONYMS: Record<ColumnRole, string[]> = {
  instruction: [
    'instruction', 'question', 'questions', 'prompt', 'query', 'customer question', 'customer message', 'customer', 'request',
    'user', 'user message', 'q', 'ticket', 'message', 'inquiry', 'enquiry', 'input',
  ],
  response: [
    'response', 'answer', 'answers', 'output', 'completion', 'reply', 'approved answer', 'agent reply', 'assistant', 'a',
    'resolution', 'approved reply', 'agent response', 'support reply',
  ],
  context: ['context', 'details', 'additional context', 'background', 'extra information', 'input'],
  system: ['system', 'system prompt', 'system message', 'persona', 'instructions for the assistant'],
};

export function normaliseHeader(h: string): string {
  return h.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

export function columnLetter(i: number): string {
  let s = '';
  let n = i + 1;
  while (n > 0) {
    const r = (n - 1) % 26;
    s = String.fromCharCode(65 + r) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

function letterIndex(s: string): number | undefined {
  if (!/^[A-Z]{1,3}$/.test(s)) return undefined;
  let n = 0;
  for (const ch of s) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

/** Header names as shown to a person (empty ones become "column C"). */
export function displayHeaders(headers: string[]): string[] {
  return headers.map((h, i) => (h.trim() ? h.trim() : `column ${columnLetter(i)}`));
}

export type ResolvedColumns = { [K in ColumnRole]?: number } & { instruction: number; response: number };

export type ResolveResult =
  | { ok: true; columns: ResolvedColumns; guessed: boolean }
  | { ok: false; code: 'data.missing-column'; column: string }
  | { ok: false; code: 'data.columns-unrecognised' };

/** Finds a column by its name (any case), its letter (A, B, ...) or its position (1, 2, ...). */
export function findColumn(headers: string[], ref: string): number | undefined {
  const want = normaliseHeader(ref);
  const byName = headers.findIndex((h) => normaliseHeader(h) === want);
  if (byName >= 0) return byName;
  const shown = displayHeaders(headers);
  const byShown = shown.findIndex((h) => normaliseHeader(h) === want);
  if (byShown >= 0) return byShown;
  const letter = letterIndex(ref.trim());
  if (letter !== undefined && letter < headers.length) return letter;
  if (/^\d+$/.test(ref.trim())) {
    const n = Number(ref.trim()) - 1;
    if (n >= 0 && n < headers.length) return n;
  }
  return undefined;
}

export function resolveColumns(headers: string[], map: ColumnMap = {}): ResolveResult {
  const out: { [K in ColumnRole]?: number } = {};
  for (const role of COLUMN_ROLES) {
    const ref = map[role];
    if (ref === undefined) continue;
    const idx = findColumn(headers, ref);
    if (idx === undefined) return { ok: false, code: 'data.missing-column', column: ref };
    out[role] = idx;
  }
  const norm = headers.map(normaliseHeader);
  const taken = new Set(Object.values(out));
  // Exact synonyms first, then headers that contain a telling word ("Customer's question").
  for (const pass of ['exact', 'word'] as const) {
    for (const role of ['instruction', 'response', 'system', 'context'] as ColumnRole[]) {
      if (out[role] !== undefined) continue;
      const idx = norm.findIndex((h, i) => {
        if (taken.has(i) || !h) return false;
        if (pass === 'exact') return SYNONYMS[role].includes(h);
        const words = h.split(' ');
        const telling = role === 'instruction' ? ['question', 'prompt', 'instruction', 'query'] : role === 'response' ? ['answer', 'reply', 'response'] : role === 'system' ? ['system'] : ['context'];
        return telling.some((t) => words.includes(t));
      });
      if (idx >= 0) {
        out[role] = idx;
        taken.add(idx);
      }
    }
  }
  if (out.instruction !== undefined && out.response !== undefined) return { ok: true, columns: out as ResolvedColumns, guessed: false };
  // Two columns with unknown names: first is the question, second the answer.
  const used = headers.map((h, i) => i).filter((i) => !taken.has(i));
  if (out.instruction === undefined && out.response === undefined && headers.length === 2) {
    return { ok: true, columns: { ...out, instruction: 0, response: 1 }, guessed: true };
  }
  if (out.instruction === undefined && out.response !== undefined && used.length === 1) {
    return { ok: true, columns: { ...out, instruction: used[0]!, response: out.response }, guessed: true };
  }
  if (out.response === undefined && out.instruction !== undefined && used.length === 1) {
    return { ok: true, columns: { ...out, instruction: out.instruction, response: used[0]! }, guessed: true };
  }
  if (map.instruction !== undefined && out.response === undefined) return { ok: false, code: 'data.missing-column', column: 'response' };
  return { ok: false, code: 'data.columns-unrecognised' };
}

/** An Excel cell's value as the text a person sees. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? '' : v.toISOString().slice(0, 10);
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.richText)) return (o.richText as { text?: unknown }[]).map((r) => String(r.text ?? '')).join('');
    if ('formula' in o || 'sharedFormula' in o) return cellText(o.result);
    if ('text' in o) return cellText(o.text);
    if ('error' in o) return String(o.error);
    if ('result' in o) return cellText(o.result);
  }
  return String(v);
}
