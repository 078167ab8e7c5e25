/**
 * From one record of a known shape to a draft conversation (or the reason it cannot be one).
 *
 * Conventions, the same for every format:
 * - the user message is the instruction, followed by a blank line and the optional
 *   input/context when there is one: `instruction + "\n\n" + input`;
 * - text is trimmed at both ends; an empty optional field (input, context, system) is left out;
 * - an optional system prompt becomes the first message.
 */
import type { ChatMessage } from '../tokenizer/chat-template.js';
import type { DiagnosticCode } from '../../shared/diagnostics.js';
import type { DataFormat } from './types.js';
import { draftPreference, isPreferenceRecord } from './preference.js';

export interface DraftMessage extends ChatMessage {
  /** Where the text came from, in the file's own words: "output", "messages[2]", column "Answer". */
  field: string;
  /** The same in plain words for messages: 'the "output" field', 'the "Answer" column', 'message 3'. */
  label: string;
}

export interface Failure {
  code: DiagnosticCode;
  field?: string;
  params: Record<string, string | number>;
}

/** `rejected`: a preference pair's rejected answer (the messages end with the chosen one). */
export type Drafted = { ok: true; messages: DraftMessage[]; rejected?: DraftMessage } | { ok: false; failure: Failure };

const fieldLabel = (key: string) => `the "${key}" field`;

export function describeValue(v: unknown): string {
  if (v === null) return 'empty (null)';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'number':
      return `a number (${v})`;
    case 'boolean':
      return `${v} (yes/no)`;
    case 'object':
      return 'a group of fields';
    case 'undefined':
      return 'missing';
    case 'string':
      return `the text "${v.length > 30 ? v.slice(0, 30) + '…' : v}"`;
    default:
      return `${typeof v}`;
  }
}

function fail(code: DiagnosticCode, field: string | undefined, params: Record<string, string | number> = {}): Drafted {
  return { ok: false, failure: { code, field, params: { ...(field ? { field: fieldLabel(field) } : {}), ...params } } };
}

/** Reads a required (or optional) text field of a record. */
function textField(rec: Record<string, unknown>, key: string, required: boolean): { ok: true; value: string | undefined } | { ok: false; d: Drafted } {
  const v = rec[key];
  if (v === undefined || (v === null && !required)) {
    if (required) return { ok: false, d: fail('data.missing-field', key) };
    return { ok: true, value: undefined };
  }
  if (typeof v !== 'string') return { ok: false, d: fail('data.wrong-type', key, { expected: 'text', found: describeValue(v) }) };
  return { ok: true, value: v.trim() };
}

/** Record keys for the instruction/response shapes: [instruction, optional extra, response]. */
const PAIR_SHAPES: Record<'alpaca' | 'dolly' | 'qa', { user: string[]; extra?: string; response: string[] }[]> = {
  alpaca: [{ user: ['instruction'], extra: 'input', response: ['output'] }],
  dolly: [{ user: ['instruction'], extra: 'context', response: ['response'] }],
  qa: [
    { user: ['question'], response: ['answer'] },
    { user: ['prompt'], response: ['completion', 'response'] },
    { user: ['query'], response: ['response', 'answer'] },
    { user: ['input'], response: ['output'] },
  ],
};

function pickKey(rec: Record<string, unknown>, keys: string[]): string {
  return keys.find((k) => k in rec) ?? keys[0]!;
}

function draftPair(rec: Record<string, unknown>, format: 'alpaca' | 'dolly' | 'qa'): Drafted {
  const shapes = PAIR_SHAPES[format];
  const shape = shapes.find((s) => s.user.some((k) => k in rec)) ?? shapes[0]!;
  const userKey = pickKey(rec, shape.user);
  const respKey = pickKey(rec, shape.response);
  const u = textField(rec, userKey, true);
  if (!u.ok) return u.d;
  const r = textField(rec, respKey, true);
  if (!r.ok) return r.d;
  let user = u.value!;
  let userField = userKey;
  if (shape.extra) {
    const x = textField(rec, shape.extra, false);
    if (!x.ok) return x.d;
    if (x.value) {
      user = user ? `${user}\n\n${x.value}` : x.value;
      userField = `${userKey}+${shape.extra}`;
    }
  }
  if (!u.value) return fail('data.empty-instruction', userKey);
  const messages: DraftMessage[] = [];
  const sysKey = 'system' in rec ? 'system' : 'system_prompt' in rec ? 'system_prompt' : undefined;
  if (sysKey) {
    const s = textField(rec, sysKey, false);
    if (!s.ok) return s.d;
    if (s.value) messages.push({ role: 'system', content: s.value, field: sysKey, label: fieldLabel(sysKey) });
  }
  messages.push({ role: 'user', content: user, field: userField, label: fieldLabel(userKey) });
  messages.push({ role: 'assistant', content: r.value!, field: respKey, label: fieldLabel(respKey) });
  return { ok: true, messages };
}

const ROLE_NAMES: Record<string, ChatMessage['role']> = {
  system: 'system',
  developer: 'system',
  user: 'user',
  human: 'user',
  assistant: 'assistant',
  gpt: 'assistant',
  chatgpt: 'assistant',
  model: 'assistant',
  bot: 'assistant',
  bard: 'assistant',
};
const KNOWN_ROLES = 'system, user or assistant (in ShareGPT files: system, human or gpt)';

/** ShareGPT (`conversations: [{from, value}]`) and OpenAI chat (`messages: [{role, content}]`); either spelling is accepted in both. */
export function draftConversation(rec: Record<string, unknown>, format: 'sharegpt' | 'openai'): Drafted {
  const listKey = format === 'sharegpt' ? ('messages' in rec && !('conversations' in rec) ? 'messages' : 'conversations') : 'conversations' in rec && !('messages' in rec) ? 'conversations' : 'messages';
  const list = rec[listKey];
  if (list === undefined) return fail('data.missing-field', listKey);
  if (!Array.isArray(list)) return fail('data.wrong-type', listKey, { expected: 'a list of messages', found: describeValue(list) });
  const messages: DraftMessage[] = [];
  // Some ShareGPT exports keep the system prompt beside the conversation.
  if (typeof rec.system === 'string' && rec.system.trim()) {
    messages.push({ role: 'system', content: rec.system.trim(), field: 'system', label: fieldLabel('system') });
  }
  for (let i = 0; i < list.length; i++) {
    const m = list[i] as unknown;
    const field = `${listKey}[${i}]`;
    const label = `message ${i + 1} of the conversation`;
    const withLabel = (code: DiagnosticCode, params: Record<string, string | number> = {}): Drafted => ({
      ok: false,
      failure: { code, field, params: { field: label, ...params } },
    });
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return withLabel('data.wrong-type', { expected: 'a message with a role and a text', found: describeValue(m) });
    const mm = m as Record<string, unknown>;
    const roleKey = 'from' in mm ? 'from' : 'role';
    const contentKey = 'value' in mm ? 'value' : 'content';
    const rawRole = mm[roleKey];
    if (rawRole === undefined) return { ok: false, failure: { code: 'data.missing-field', field: `${field}.${roleKey}`, params: { field: `the role of ${label}` } } };
    if (typeof rawRole !== 'string') return withLabel('data.unknown-role', { role: String(JSON.stringify(rawRole)), roles: KNOWN_ROLES });
    const role = ROLE_NAMES[rawRole.trim().toLowerCase()];
    if (!role) return withLabel('data.unknown-role', { role: rawRole, roles: KNOWN_ROLES });
    let content = mm[contentKey];
    // OpenAI's content may be a list of parts; only text parts are training text.
    if (Array.isArray(content)) {
      const parts = content as unknown[];
      if (!parts.every((p) => p && typeof p === 'object' && (p as { type?: unknown }).type === 'text' && typeof (p as { text?: unknown }).text === 'string')) {
        return { ok: false, failure: { code: 'data.wrong-type', field: `${field}.${contentKey}`, params: { field: `the text of ${label}`, expected: 'text', found: 'something other than text (an image or a tool call)' } } };
      }
      content = parts.map((p) => (p as { text: string }).text).join('');
    }
    if (content === undefined || content === null) {
      return { ok: false, failure: { code: 'data.missing-field', field: `${field}.${contentKey}`, params: { field: `the text of ${label}` } } };
    }
    if (typeof content !== 'string') {
      return { ok: false, failure: { code: 'data.wrong-type', field: `${field}.${contentKey}`, params: { field: `the text of ${label}`, expected: 'text', found: describeValue(content) } } };
    }
    const text = content.trim();
    if (role === 'system' && !text) continue; // an empty system prompt is no prompt
    messages.push({ role, content: text, field, label });
  }
  return { ok: true, messages };
}

/** Drafts a conversation from one JSON record of the given format. */
export function draftRecord(value: unknown, format: DataFormat): Drafted {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, failure: { code: 'data.not-an-object', params: { found: describeValue(value) } } };
  }
  const rec = value as Record<string, unknown>;
  const own = formatOfRecord(rec);
  const sameFamily = (a: DataFormat, b: DataFormat) => a === b || (['sharegpt', 'openai'].includes(a) && ['sharegpt', 'openai'].includes(b));
  if (own && !sameFamily(own, format) && !(format === 'qa' && own !== 'sharegpt' && own !== 'openai')) {
    const names: Record<DataFormat, string> = { alpaca: 'Alpaca (instruction/output)', dolly: 'Dolly (instruction/response)', sharegpt: 'a ShareGPT conversation', openai: 'OpenAI chat messages', qa: 'a question/answer pair', csv: 'a table', xlsx: 'a table', preference: 'a preference pair (chosen/rejected)' };
    // Only when the fields this format needs are missing: extra fields alone are fine.
    const d = format === 'sharegpt' || format === 'openai' ? draftConversation(rec, format) : format === 'preference' ? draftPreference(rec) : draftPair(rec, format as 'alpaca' | 'dolly' | 'qa');
    if (!d.ok && d.failure.code === 'data.missing-field') {
      return { ok: false, failure: { code: 'data.mixed-formats', params: { other: names[own], format: names[format] } } };
    }
    return d;
  }
  switch (format) {
    case 'alpaca':
    case 'dolly':
    case 'qa':
      return draftPair(rec, format);
    case 'sharegpt':
      return draftConversation(rec, format);
    case 'openai': {
      const d = draftConversation(rec, format);
      // Attune's own normalised form of a preference pair (messages ending with the chosen answer,
      // `rejected` the other answer), as a project's examples.jsonl holds it: the pair is kept.
      if (d.ok && typeof rec.rejected === 'string' && rec.rejected.trim() && d.messages.at(-1)?.role === 'assistant') {
        return { ...d, rejected: { role: 'assistant', content: rec.rejected.trim(), field: 'rejected', label: fieldLabel('rejected') } };
      }
      return d;
    }
    case 'preference':
      return draftPreference(rec);
    default:
      return draftPair(rec, 'qa');
  }
}

/** Guesses the record format from its keys; undefined when nothing fits. */
export function formatOfRecord(value: unknown): DataFormat | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const rec = value as Record<string, unknown>;
  if (isPreferenceRecord(rec)) return 'preference';
  const list = Array.isArray(rec.messages) ? rec.messages : Array.isArray(rec.conversations) ? rec.conversations : undefined;
  if (list) {
    const first = list.find((m) => m && typeof m === 'object') as Record<string, unknown> | undefined;
    if (first && ('from' in first || 'value' in first)) return 'sharegpt';
    if ('conversations' in rec && !('messages' in rec)) return 'sharegpt';
    return 'openai';
  }
  if ('instruction' in rec) {
    if ('response' in rec || 'context' in rec) return 'dolly';
    return 'alpaca';
  }
  for (const s of PAIR_SHAPES.qa) if (s.user.some((k) => k in rec) && s.response.some((k) => k in rec)) return 'qa';
  return undefined;
}

/** Table and Q/A text rows: a draft from already-mapped cells. Labels are the column names. */
export function draftFromCells(cells: {
  instruction?: { value: string; column: string };
  context?: { value: string; column: string };
  response?: { value: string; column: string };
  system?: { value: string; column: string };
}, columnWord = 'column'): Drafted {
  const label = (c: string) => `the "${c}" ${columnWord}`;
  const ins = cells.instruction;
  const resp = cells.response;
  if (!ins) return { ok: false, failure: { code: 'data.missing-field', params: { field: 'the question' } } };
  if (!resp) return { ok: false, failure: { code: 'data.missing-field', params: { field: 'the answer' } } };
  const insText = ins.value.trim();
  const respText = resp.value.trim();
  if (!insText) return { ok: false, failure: { code: 'data.empty-instruction', field: ins.column, params: { field: label(ins.column) } } };
  const messages: DraftMessage[] = [];
  const sys = cells.system?.value.trim();
  if (sys) messages.push({ role: 'system', content: sys, field: cells.system!.column, label: label(cells.system!.column) });
  const ctx = cells.context?.value.trim();
  messages.push({
    role: 'user',
    content: ctx ? `${insText}\n\n${ctx}` : insText,
    field: ins.column,
    label: label(ins.column),
  });
  messages.push({ role: 'assistant', content: respText, field: resp.column, label: label(resp.column) });
  return { ok: true, messages };
}
