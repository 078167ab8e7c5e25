/**
 * A conversation as training tokens: ids from the model's chat template and a loss mask that
 * covers the assistant's words only.
 *
 * How (as TRL and axolotl do it when a template has no generation markers): render growing
 * prefixes of the conversation with the template, encode each, and check that every prefix's ids
 * are a prefix of the next one's; the tokens a message adds belong to it. For an assistant
 * message, the tokens of the header the template puts before it (`add_generation_prompt`) are
 * not learned; the rest is.
 *
 * Mask contract (what the training step consumes): `lossMask[i] = 1` iff token i is a target,
 * predicted from position i-1. It is 1 for an assistant message's content and for its
 * end-of-turn token(s) (every assistant turn of a multi-turn conversation), up to and including
 * the LAST stop token (`ModelTokenizer.stopTokenIds`: eos, `<|im_end|>`, `<|eot_id|>`, ...) the
 * turn adds. Whatever the template writes after that stop token is not learned: generation
 * stops at the stop token, so the model never has to produce it. For the stories260K (Alpaca)
 * template, an assistant turn renders `### Response:\n{content}</s>\n\n`; the mask covers the
 * content and `</s>` (id 2) and not `▁\n\n` (ids 410, 13, 13) nor the `### Response:\n` header.
 * When a turn adds no stop token at all (a template that does not end turns), the whole turn is
 * learned.
 *
 * A template that rewrites earlier text once later messages are added (not prefix-stable) is an
 * error (code data.template-unstable): there is no reliable way to tell which tokens are the
 * answer.
 */
import { AttuneError } from '../../shared/errors.js';
import type { ChatMessage, ModelTokenizer } from '../tokenizer/tokenizer.js';

export interface TokenizedConversation {
  ids: number[];
  lossMask: Uint8Array;
}

function isPrefix(a: number[], b: number[]): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function commonPrefix(a: number[], b: number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export type TokenizerLike = Pick<ModelTokenizer, 'encodeChat' | 'stopTokenIds'>;

export function tokenizeConversation(tok: TokenizerLike, messages: ChatMessage[]): TokenizedConversation {
  const plain = messages.map((m) => ({ role: m.role, content: m.content }));
  const stops = new Set(tok.stopTokenIds);
  const masked: [number, number][] = [];
  let prev: number[] = [];
  let ids: number[] = [];
  for (let k = 0; k < plain.length; k++) {
    ids = tok.encodeChat(plain.slice(0, k + 1), { addGenerationPrompt: false });
    if (k > 0 && !isPrefix(prev, ids)) {
      const at = commonPrefix(prev, ids);
      throw new AttuneError('data.template-changes-tokens', { message: k + 1, token: at }, { field: `messages[${k}]` });
    }
    if (plain[k]!.role === 'assistant') {
      // Where the assistant's own tokens start: after the header the template writes for it.
      const withHeader = tok.encodeChat(plain.slice(0, k), { addGenerationPrompt: true });
      const start = Math.max(prev.length, Math.min(commonPrefix(withHeader, ids), withHeader.length));
      let end = ids.length; // exclusive
      for (let j = ids.length - 1; j >= start; j--) {
        if (stops.has(ids[j]!)) {
          end = j + 1;
          break;
        }
      }
      if (end > start) masked.push([start, end]);
    }
    prev = ids;
  }
  const lossMask = new Uint8Array(ids.length);
  for (const [s, e] of masked) lossMask.fill(1, s, e);
  return { ids, lossMask };
}
