/**
 * The rules every conversation must pass, whatever file it came from. The first broken rule is
 * the reason the row is left out.
 */
import type { DraftMessage, Failure } from './formats.js';
import { findMisdecoding, MISDECODING_CODES } from './mojibake.js';

export function validateConversation(messages: DraftMessage[]): Failure | undefined {
  if (messages.length === 0) return { code: 'data.no-messages', params: {} };
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (!m.content) {
      const code = m.role === 'assistant' ? 'data.empty-response' : m.role === 'user' && messages.filter((x) => x.role === 'user').length === 1 ? 'data.empty-instruction' : 'data.empty-message';
      return { code, field: m.field, params: { field: m.label } };
    }
  }
  for (let i = 1; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === 'system') return { code: 'data.system-not-first', field: m.field, params: { field: m.label } };
  }
  const turns = messages[0]!.role === 'system' ? messages.slice(1) : messages;
  if (turns.length === 0) return { code: 'data.not-ending-with-assistant', params: { role: 'system' } };
  if (turns[0]!.role !== 'user') return { code: 'data.first-not-user', field: turns[0]!.field, params: { field: turns[0]!.label } };
  for (let i = 1; i < turns.length; i++) {
    if (turns[i]!.role === turns[i - 1]!.role) {
      return { code: 'data.roles-not-alternating', field: turns[i]!.field, params: { field: turns[i]!.label, role: turns[i]!.role } };
    }
  }
  const last = turns[turns.length - 1]!;
  if (last.role !== 'assistant') return { code: 'data.not-ending-with-assistant', field: last.field, params: { role: last.role } };
  for (const m of messages) {
    const bad = findMisdecoding(m.content);
    if (bad) return { code: MISDECODING_CODES[bad.kind], field: m.field, params: { field: m.label, sample: bad.sample } };
  }
  return undefined;
}
