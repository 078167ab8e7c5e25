/**
 * Preference pairs: one prompt, a chosen answer and a rejected one. Read from the shapes other
 * tools write:
 * - TRL, explicit prompt: `prompt`, `chosen`, `rejected`, each a text or a list of messages
 *   (`[{role, content}]`; chosen/rejected then hold the assistant's answer);
 * - TRL, implicit prompt: `chosen` and `rejected` are whole conversations (message lists) that
 *   share their beginning; the shared part is the prompt;
 * - Anthropic HH: `chosen` and `rejected` are texts written `\n\nHuman: ... \n\nAssistant: ...`;
 * - LLaMA-Factory ShareGPT: `conversations: [{from, value}]` plus `chosen: {from, value}` and
 *   `rejected: {from, value}`;
 * - LLaMA-Factory Alpaca: `instruction` (+ `input`, `system`) plus `chosen`/`rejected` texts.
 * The result is the conversation ending with the chosen answer, and the rejected answer beside it.
 */
import type { DiagnosticCode } from '../../shared/diagnostics.js';
import { describeValue, draftConversation, type DraftMessage, type Drafted } from './formats.js';

const fieldLabel = (key: string) => `the "${key}" field`;

function fail(code: DiagnosticCode, field: string | undefined, params: Record<string, string | number> = {}): Drafted {
  return { ok: false, failure: { code, field, params: { ...(field ? { field: fieldLabel(field) } : {}), ...params } } };
}

type Listed = { ok: true; messages: DraftMessage[] } | { ok: false; d: Drafted };

/** A list of messages under `key` (OpenAI or ShareGPT spelling), with fields named after the key. */
function messageList(list: unknown[], key: string): Listed {
  const d = draftConversation({ messages: list }, 'openai');
  const rename = (f: string | undefined) => (f ? f.replace(/^messages/, key) : f);
  const relabel = (l: string | number | undefined) => (typeof l === 'string' ? l.replace('of the conversation', `of ${fieldLabel(key)}`) : l);
  if (!d.ok) {
    const f = d.failure;
    return { ok: false, d: { ok: false, failure: { code: f.code, field: rename(f.field), params: { ...f.params, ...(f.params.field !== undefined ? { field: relabel(f.params.field)! } : {}) } } } };
  }
  return { ok: true, messages: d.messages.map((m) => ({ ...m, field: rename(m.field)!, label: String(relabel(m.label)) })) };
}

/** `\n\nHuman: ...\n\nAssistant: ...` -> messages; undefined when the text has no such markers. */
export function parseHhText(text: string, key: string): DraftMessage[] | undefined {
  const re = /(?:^|\n\n)(Human|Assistant|H|A):[ \t]?/g;
  const marks: { role: 'user' | 'assistant'; at: number; body: number }[] = [];
  for (let m = re.exec(text); m; m = re.exec(text)) marks.push({ role: m[1]!.startsWith('H') ? 'user' : 'assistant', at: m.index, body: m.index + m[0].length });
  if (!marks.some((m) => m.role === 'user') || !marks.some((m) => m.role === 'assistant')) return undefined;
  if (text.slice(0, marks[0]!.at).trim()) return undefined;
  return marks.map((m, i) => ({
    role: m.role,
    content: text.slice(m.body, i + 1 < marks.length ? marks[i + 1]!.at : text.length).trim(),
    field: `${key}[turn ${i + 1}]`,
    label: `turn ${i + 1} (${m.role === 'user' ? 'Human' : 'Assistant'}) of ${fieldLabel(key)}`,
  }));
}

/** One answer: a text, a {from/role, value/content} message, or a list holding the answer. */
function answerOf(v: unknown, key: string): { ok: true; message: DraftMessage } | { ok: false; d: Drafted } {
  if (typeof v === 'string') return { ok: true, message: { role: 'assistant', content: v.trim(), field: key, label: fieldLabel(key) } };
  const list = Array.isArray(v) ? v : v && typeof v === 'object' ? [v] : undefined;
  if (!list) return { ok: false, d: fail('data.wrong-type', key, { expected: 'a text or a message', found: describeValue(v) }) };
  const r = messageList(list, key);
  if (!r.ok) return r;
  if (r.messages.length !== 1) return { ok: false, d: fail('data.preference-not-answer', key, { detail: `it holds ${r.messages.length} messages instead of one answer` }) };
  const m = r.messages[0]!;
  if (m.role !== 'assistant') return { ok: false, d: fail('data.preference-not-answer', key, { detail: `it is a ${m.role} message, not the assistant's answer` }) };
  return { ok: true, message: { ...m, field: Array.isArray(v) ? m.field : key, label: Array.isArray(v) ? m.label : fieldLabel(key) } };
}

/** Whole conversations sharing their beginning -> the shared prompt and the two last answers. */
function splitImplicit(chosen: DraftMessage[], rejected: DraftMessage[]): Drafted {
  const cLast = chosen[chosen.length - 1];
  const rLast = rejected[rejected.length - 1];
  if (!cLast || cLast.role !== 'assistant') return fail('data.preference-not-answer', 'chosen', { detail: "the conversation does not end with the assistant's answer" });
  if (!rLast || rLast.role !== 'assistant') return fail('data.preference-not-answer', 'rejected', { detail: "the conversation does not end with the assistant's answer" });
  const prompt = chosen.slice(0, -1);
  const other = rejected.slice(0, -1);
  const differs = prompt.length !== other.length ? Math.min(prompt.length, other.length) : prompt.findIndex((m, i) => m.role !== other[i]!.role || m.content !== other[i]!.content);
  if (differs >= 0) {
    return { ok: false, failure: { code: 'data.preference-diverge', field: `rejected[${differs}]`, params: { turn: differs + 1 } } };
  }
  if (prompt.length === 0) return fail('data.preference-no-prompt', 'chosen');
  return { ok: true, messages: [...prompt, cLast], rejected: rLast };
}

export function draftPreference(rec: Record<string, unknown>): Drafted {
  for (const key of ['chosen', 'rejected']) if (rec[key] === undefined || rec[key] === null) return fail('data.missing-field', key);
  const system: DraftMessage[] = [];
  if (typeof rec.system === 'string' && rec.system.trim()) system.push({ role: 'system', content: rec.system.trim(), field: 'system', label: fieldLabel('system') });

  let prompt: DraftMessage[] | undefined;
  if (rec.prompt !== undefined && rec.prompt !== null) {
    if (typeof rec.prompt === 'string') prompt = [{ role: 'user', content: rec.prompt.trim(), field: 'prompt', label: fieldLabel('prompt') }];
    else if (Array.isArray(rec.prompt)) {
      const r = messageList(rec.prompt, 'prompt');
      if (!r.ok) return r.d;
      prompt = r.messages;
    } else return fail('data.wrong-type', 'prompt', { expected: 'a text or a list of messages', found: describeValue(rec.prompt) });
  } else if (Array.isArray(rec.conversations) || Array.isArray(rec.messages)) {
    const key = Array.isArray(rec.conversations) ? 'conversations' : 'messages';
    const r = messageList(rec[key] as unknown[], key);
    if (!r.ok) return r.d;
    prompt = r.messages;
  } else if (typeof rec.instruction === 'string' || typeof rec.question === 'string') {
    const key = typeof rec.instruction === 'string' ? 'instruction' : 'question';
    const extra = typeof rec.input === 'string' && rec.input.trim() ? `\n\n${rec.input.trim()}` : '';
    prompt = [{ role: 'user', content: (rec[key] as string).trim() + extra, field: key, label: fieldLabel(key) }];
  }
  if (prompt) {
    const c = answerOf(rec.chosen, 'chosen');
    if (!c.ok) return c.d;
    const r = answerOf(rec.rejected, 'rejected');
    if (!r.ok) return r.d;
    return { ok: true, messages: [...system, ...prompt, c.message], rejected: r.message };
  }

  // No prompt field: the prompt is the beginning chosen and rejected share.
  const whole = (key: 'chosen' | 'rejected'): Listed => {
    const v = rec[key];
    if (Array.isArray(v)) return messageList(v, key);
    if (typeof v === 'string') {
      const hh = parseHhText(v, key);
      if (hh) return { ok: true, messages: hh };
      return { ok: false, d: fail('data.preference-no-prompt', key) };
    }
    return { ok: false, d: fail('data.wrong-type', key, { expected: 'a conversation (a list of messages or "Human: … Assistant: …" text)', found: describeValue(v) }) };
  };
  const c = whole('chosen');
  if (!c.ok) return c.d;
  const r = whole('rejected');
  if (!r.ok) return r.d;
  const d = splitImplicit(c.messages, r.messages);
  if (d.ok && system.length) d.messages.unshift(...system);
  return d;
}

/** A record that holds a preference pair (checked before the instruction shapes). */
export function isPreferenceRecord(rec: Record<string, unknown>): boolean {
  return 'chosen' in rec && 'rejected' in rec;
}
