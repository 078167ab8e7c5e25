/**
 * Preference files: every shape other tools write (TRL explicit and implicit prompt, strings and
 * message lists; Anthropic HH; LLaMA-Factory ShareGPT and Alpaca) reads to the same pairs, and
 * broken rows are reported with line, field and reason like instruction data.
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkDataFile, importDataFile, readNormalizedJsonl, type DataReport, type Problem } from '../../../src/engine/data/index.js';
import { DIAGNOSTICS } from '../../../src/shared/diagnostics.js';
import { loadModel } from '../../../src/engine/models/load.js';
import { expectCountsAddUp, STORIES_PATH, tempDir } from './helpers.js';

const write = (name: string, rows: unknown[]) => {
  const file = path.join(tempDir(), name);
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
};
const byLine = (r: DataReport) => new Map(r.problems.filter((p) => p.rejected).map((p) => [p.line, p] as [number, Problem]));

const Q = 'Can I return shoes after 30 days?';
const GOOD = 'Yes, within 60 days with the receipt. Best wishes, Mia';
const BAD = 'No. Returns are never possible.';

describe('preference shapes', () => {
  const shapes: [string, unknown][] = [
    ['TRL, strings', { prompt: Q, chosen: GOOD, rejected: BAD }],
    ['TRL, message lists', { prompt: [{ role: 'user', content: Q }], chosen: [{ role: 'assistant', content: GOOD }], rejected: [{ role: 'assistant', content: BAD }] }],
    [
      'TRL, implicit prompt',
      { chosen: [{ role: 'user', content: Q }, { role: 'assistant', content: GOOD }], rejected: [{ role: 'user', content: Q }, { role: 'assistant', content: BAD }] },
    ],
    ['Anthropic HH', { chosen: `\n\nHuman: ${Q}\n\nAssistant: ${GOOD}`, rejected: `\n\nHuman: ${Q}\n\nAssistant: ${BAD}` }],
    ['LLaMA-Factory ShareGPT', { conversations: [{ from: 'human', value: Q }], chosen: { from: 'gpt', value: GOOD }, rejected: { from: 'gpt', value: BAD } }],
    ['LLaMA-Factory Alpaca', { instruction: Q, input: '', chosen: GOOD, rejected: BAD }],
  ];
  for (const [name, row] of shapes) {
    it(`${name}: one pair, prompt -> chosen, rejected beside it`, async () => {
      const file = write('pairs.jsonl', [row]);
      const dir = tempDir();
      const r = await importDataFile(file, { out: path.join(dir, 'out.jsonl') });
      expectCountsAddUp(r);
      expect(r.format).toBe('preference');
      expect(r.counts.imported).toBe(1);
      expect(r.stats.pairs).toBe(1);
      const [e] = await readNormalizedJsonl(r.out!);
      expect(e.messages).toEqual([{ role: 'user', content: Q }, { role: 'assistant', content: GOOD }]);
      expect(e.rejected).toBe(BAD);
    });
  }

  it('multi-turn HH and implicit conversations keep the shared turns as the prompt; a system prompt comes first', async () => {
    const hh = `\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: ${Q}\n\nAssistant: `;
    const file = write('multi.jsonl', [
      { chosen: hh + GOOD, rejected: hh + BAD },
      { system: 'Be kind.', prompt: Q, chosen: GOOD, rejected: BAD },
    ]);
    const r = await importDataFile(file, { out: path.join(tempDir(), 'o.jsonl') });
    expect(r.counts.imported).toBe(2);
    const [a, b] = await readNormalizedJsonl(r.out!);
    expect(a.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(a.messages[1].content).toBe('Hello!');
    expect(a.rejected).toBe(BAD);
    expect(b.messages[0]).toEqual({ role: 'system', content: 'Be kind.' });
  });

  it('several pairs for one prompt are not duplicates; the same pair twice is', async () => {
    const file = write('dup.jsonl', [
      { prompt: Q, chosen: GOOD, rejected: BAD },
      { prompt: Q, chosen: GOOD, rejected: 'Maybe, ask the manager on Tuesday between nine and ten in the morning.' },
      { prompt: Q, chosen: GOOD, rejected: BAD },
    ]);
    const r = await checkDataFile(file);
    expectCountsAddUp(r);
    expect(r.counts).toMatchObject({ imported: 2, exactDuplicates: 1 });
  });
});

describe('broken preference rows: line, field and reason', () => {
  it('one line per error class', async () => {
    const file = write('broken.jsonl', [
      { prompt: Q, chosen: GOOD, rejected: BAD }, // 1 ok
      { prompt: Q, chosen: GOOD, rejected: GOOD }, // 2 identical
      { prompt: Q, chosen: GOOD }, // 3 missing rejected
      { prompt: Q, chosen: GOOD, rejected: '  ' }, // 4 empty rejected
      { chosen: 'The sky is blue.', rejected: 'The sky is green.' }, // 5 no prompt
      { chosen: [{ role: 'user', content: Q }, { role: 'assistant', content: GOOD }], rejected: [{ role: 'user', content: 'Other?' }, { role: 'assistant', content: BAD }] }, // 6 diverge
      { prompt: Q, chosen: [{ role: 'user', content: GOOD }], rejected: BAD }, // 7 not an answer
      { prompt: 42, chosen: GOOD, rejected: BAD }, // 8 wrong type
      { instruction: Q, output: GOOD }, // 9 an instruction example among pairs
      { prompt: '', chosen: GOOD, rejected: BAD }, // 10 empty prompt
      { prompt: Q, chosen: 'Yes, within 60 days. CafÃ© vouchers too.', rejected: BAD }, // 11 mojibake in chosen
      { prompt: Q, chosen: [{ role: 'assistant', content: GOOD }], rejected: [{ rol: 'assistant', content: BAD }] }, // 12 message without a role
    ]);
    const r = await checkDataFile(file);
    expectCountsAddUp(r);
    expect(r.format).toBe('preference');
    expect(r.counts).toMatchObject({ rowsRead: 12, imported: 1, rejected: 11 });
    const p = byLine(r);
    const expected: [number, string, string | undefined][] = [
      [2, 'data.preference-identical', 'rejected'],
      [3, 'data.missing-field', undefined],
      [4, 'data.empty-response', 'rejected'],
      [5, 'data.preference-no-prompt', undefined],
      [6, 'data.preference-diverge', 'rejected[0]'],
      [7, 'data.preference-not-answer', undefined],
      [8, 'data.wrong-type', undefined],
      [9, 'data.mixed-formats', undefined],
      [10, 'data.empty-instruction', 'prompt'],
      [11, 'data.mojibake', 'chosen'],
      [12, 'data.missing-field', 'rejected[0].role'],
    ];
    for (const [line, code, field] of expected) {
      const prob = p.get(line);
      expect(prob, `line ${line}`).toBeDefined();
      expect(prob).toMatchObject({ code, file, line, rejected: true, severity: DIAGNOSTICS[code as keyof typeof DIAGNOSTICS].severity });
      if (field) expect(prob!.field).toBe(field);
      expect(prob!.message.startsWith(`Line ${line}: `)).toBe(true);
      expect(prob!.message).not.toMatch(/\{\w+\}/);
    }
    expect(p.get(2)!.message).toContain('the same');
    expect(p.get(3)!.message).toContain('"rejected"');
  });

  it("with the model's tokenizer, a pair is too long when either answer is", async () => {
    const model = await loadModel(STORIES_PATH);
    const long = 'Once upon a time there was a little dog. '.repeat(30);
    const file = write('long.jsonl', [
      { prompt: 'Hi', chosen: 'Hello.', rejected: long },
      { prompt: 'Hi there', chosen: 'Hello.', rejected: 'Go away.' },
    ]);
    const r = await checkDataFile(file, { tokenizer: model.tokenizer, maxLength: 128 });
    expectCountsAddUp(r);
    expect(r.counts.imported).toBe(1);
    expect(byLine(r).get(1)!.code).toBe('data.too-long');
  });
});

describe('a project of preference pairs', () => {
  it('re-importing the normalised file keeps the pairs (the app tunes dpo/orpo from its examples.jsonl)', async () => {
    const dir = tempDir();
    const first = path.join(dir, 'first.jsonl');
    await importDataFile(write('pairs.jsonl', [{ prompt: Q, chosen: GOOD, rejected: BAD }, { prompt: 'Do you ship abroad?', chosen: 'Yes, to all of Europe.', rejected: 'No.' }]), { out: first, force: true });
    const again = path.join(dir, 'again.jsonl');
    const r = await importDataFile(first, { out: again, force: true });
    expect(r.counts.imported).toBe(2);
    const rows = await readNormalizedJsonl(again);
    expect(rows.map((e) => [e.messages.at(-1)!.content, e.rejected])).toEqual([
      [GOOD, BAD],
      ['Yes, to all of Europe.', 'No.'],
    ]);
    // An instruction example stays one without a rejected answer.
    const plain = path.join(dir, 'plain.jsonl');
    await importDataFile(write('plain.jsonl', [{ messages: [{ role: 'user', content: Q }, { role: 'assistant', content: GOOD }] }]), { out: plain, force: true });
    expect((await readNormalizedJsonl(plain))[0]!.rejected).toBeUndefined();
  });
});
