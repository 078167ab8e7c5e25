/**
 * The `--map instruction=Question,response="Approved answer"` option as a ColumnMap.
 */
import { AttuneError } from '../../shared/errors.js';
import type { ColumnMap } from './types.js';

const KEYS: Record<string, keyof ColumnMap> = {
  instruction: 'instruction',
  question: 'instruction',
  prompt: 'instruction',
  response: 'response',
  answer: 'response',
  output: 'response',
  context: 'context',
  input: 'context',
  system: 'system',
};

/** Splits on commas outside quotes; values may be quoted ("Approved answer, final"). */
export function parseColumnMap(spec: string): ColumnMap {
  const bad = () => new AttuneError('data.map-invalid', { detail: spec });
  const parts: string[] = [];
  let cur = '';
  let q: string | undefined;
  for (const ch of spec) {
    if (q) {
      if (ch === q) q = undefined;
      else cur += ch;
    } else if (ch === '"' || ch === "'") q = ch;
    else if (ch === ',') {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (q) throw bad();
  parts.push(cur);
  const map: ColumnMap = {};
  for (const p of parts) {
    if (!p.trim()) continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw bad();
    const key = KEYS[p.slice(0, eq).trim().toLowerCase()];
    const value = p.slice(eq + 1).trim();
    if (!key || !value) throw bad();
    map[key] = value;
  }
  if (Object.keys(map).length === 0) throw bad();
  return map;
}
