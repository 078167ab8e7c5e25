import { beforeAll, describe, expect, it } from 'vitest';
import { checkDataFile, tokenizeConversation } from '../../../src/engine/data/index.js';
import { ModelTokenizer } from '../../../src/engine/tokenizer/tokenizer.js';
import type { ChatMessage } from '../../../src/engine/tokenizer/chat-template.js';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { STORIES_PATH, expectCountsAddUp, tempDir } from './helpers.js';

let tok: ModelTokenizer;
beforeAll(async () => {
  tok = await ModelTokenizer.fromFolder(STORIES_PATH);
});

/** The masked tokens decoded, one string per contiguous run. */
function maskedRuns(ids: number[], mask: Uint8Array): number[][] {
  const runs: number[][] = [];
  let cur: number[] | undefined;
  ids.forEach((id, i) => {
    if (mask[i]) (cur ??= []).push(id);
    else if (cur) {
      runs.push(cur);
      cur = undefined;
    }
  });
  if (cur) runs.push(cur);
  return runs;
}

describe('tokenizeConversation on the stories260K (Alpaca) template', () => {
  it('ids equal the rendered conversation; the mask is exactly the answer and its </s>', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Tell me a story' },
      { role: 'assistant', content: 'Once upon a time' },
    ];
    const { ids, lossMask } = tokenizeConversation(tok, messages);
    expect(ids).toEqual(tok.encodeChat(messages, { addGenerationPrompt: false }));
    expect(lossMask).toHaveLength(ids.length);
    const runs = maskedRuns(ids, lossMask);
    expect(runs).toHaveLength(1);
    expect(tok.decode(runs[0]!, { skipSpecialTokens: false })).toBe('Once upon a time</s>');
    expect(runs[0]!.at(-1)).toBe(2);
    // After </s> the template writes "\n\n" (ids 410, 13, 13): not learned.
    const eosAt = ids.lastIndexOf(2);
    expect(ids.slice(eosAt + 1)).toEqual([410, 13, 13]);
    expect([...lossMask.slice(eosAt + 1)]).toEqual([0, 0, 0]);
    // The prompt (and the "### Response:\n" header) is not learned.
    const promptLen = tok.encodeChat(messages.slice(0, 1), { addGenerationPrompt: true }).length;
    expect([...lossMask.slice(0, promptLen)].every((m) => m === 0)).toBe(true);
    expect(lossMask[promptLen]).toBe(1);
  });

  it('every assistant turn of a multi-turn conversation, with a system prompt, is learned', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be kind.' },
      { role: 'user', content: 'Tell me a story' },
      { role: 'assistant', content: 'Once upon a time' },
      { role: 'user', content: 'More' },
      { role: 'assistant', content: 'The end' },
    ];
    const { ids, lossMask } = tokenizeConversation(tok, messages);
    const runs = maskedRuns(ids, lossMask).map((r) => tok.decode(r, { skipSpecialTokens: false }));
    expect(runs).toEqual(['Once upon a time</s>', 'The end</s>']);
    expect(lossMask.reduce((a, b) => a + b, 0)).toBeLessThan(ids.length / 2);
  });

  it('a template that is not prefix-stable is a clear error', () => {
    // A fake tokenizer whose rendering of earlier messages changes once more are added.
    const fake = {
      stopTokenIds: [2],
      encodeChat(ms: ChatMessage[], o: { addGenerationPrompt: boolean }) {
        const n = ms.length;
        return [1, 100 + n, ...ms.flatMap((m, i) => [10 + i, m.role === 'assistant' ? 2 : 3]), ...(o.addGenerationPrompt ? [7] : [])];
      },
    };
    expect(() =>
      tokenizeConversation(fake, [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
      ]),
    ).toThrow(expect.objectContaining({ code: 'data.template-unstable' }));
  });

  it('a template without a stop token in the turn learns the whole turn', () => {
    const fake = {
      stopTokenIds: [99],
      encodeChat(ms: ChatMessage[], o: { addGenerationPrompt: boolean }) {
        return [1, ...ms.flatMap((m) => (m.role === 'user' ? [5, 6] : [7, 8, 9])), ...(o.addGenerationPrompt ? [7] : [])];
      },
    };
    const r = tokenizeConversation(fake, [
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
    ]);
    expect(r.ids).toEqual([1, 5, 6, 7, 8, 9]);
    expect([...r.lossMask]).toEqual([0, 0, 0, 0, 1, 1]);
  });
});

describe('lengths with the model tokenizer', () => {
  it('counts template tokens and leaves out examples over the context length', async () => {
    const f = path.join(tempDir(), 'len.jsonl');
    const long = 'word '.repeat(400).trim();
    writeFileSync(f, [
      JSON.stringify({ instruction: 'Short question?', output: 'Short answer.' }),
      JSON.stringify({ instruction: 'Long question?', output: long }),
    ].join('\n'));
    const r = await checkDataFile(f, { tokenizer: tok, maxLength: 256 });
    expectCountsAddUp(r);
    expect(r.stats.tokenCounting).toBe('model');
    expect(r.counts).toMatchObject({ imported: 1, rejected: 1 });
    const p = r.problems.find((x) => x.code === 'data.too-long')!;
    expect(p).toMatchObject({ line: 2, rejected: true });
    expect(p.message).toMatch(/^Line 2: this example is \d+ tokens long, more than the 256 tokens/);
    const short = tok.encodeChat([{ role: 'user', content: 'Short question?' }, { role: 'assistant', content: 'Short answer.' }], { addGenerationPrompt: false });
    expect(r.stats.tokenLengths.max).toBe(short.length);

    // Without a model the counts are estimates, and long examples are only warned about.
    const est = await checkDataFile(f, { maxLength: 256 });
    expect(est.stats.tokenCounting).toBe('estimate');
    expect(est.counts).toMatchObject({ imported: 2, rejected: 0, warnings: 1 });
    expect(est.problems.find((x) => x.code === 'data.maybe-too-long')).toMatchObject({ rejected: false, severity: 'warning' });
  });

  it('a chat template that refuses a conversation is reported per row', async () => {
    const strict = await ModelTokenizer.fromFolder(STORIES_PATH, { template: 'chatml' });
    // Monkey-patch a template error for one message, as a Jinja raise_exception would.
    const original = strict.encodeChat.bind(strict);
    strict.encodeChat = (ms, o) => {
      if (ms.some((m) => m.content.includes('forbidden'))) throw new Error('Conversation roles must alternate user/assistant');
      return original(ms, o);
    };
    const f = path.join(tempDir(), 't.jsonl');
    writeFileSync(f, [JSON.stringify({ instruction: 'fine', output: 'ok' }), JSON.stringify({ instruction: 'forbidden', output: 'no' })].join('\n'));
    const r = await checkDataFile(f, { tokenizer: strict });
    expectCountsAddUp(r);
    expect(r.problems.find((p) => p.code === 'data.template-error')).toMatchObject({ line: 2 });
    expect(r.problems.find((p) => p.code === 'data.template-error')!.message).toContain('roles must alternate');
  });
});
