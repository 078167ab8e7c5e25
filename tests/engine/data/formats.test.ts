import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { checkDataFile, detectFormat, importDataFile, readNormalizedJsonl, type DataFormat } from '../../../src/engine/data/index.js';
import { PAIRS, SYSTEM } from './tools/make-format-samples.js';
import { FORMATS, expectCountsAddUp, tempDir } from './helpers.js';

const user = (p: (typeof PAIRS)[number]) => (p.ctx ? `${p.q}\n\n${p.ctx}` : p.q);

const CASES: { file: string; format: DataFormat; container: string; encoding?: string; delimiter?: string; systems: number; multiTurn: number }[] = [
  { file: 'alpaca.json', format: 'alpaca', container: 'json', encoding: 'UTF-8', systems: 1, multiTurn: 0 },
  { file: 'alpaca.jsonl', format: 'alpaca', container: 'jsonl', encoding: 'UTF-8', systems: 1, multiTurn: 0 },
  { file: 'dolly.jsonl', format: 'dolly', container: 'jsonl', encoding: 'UTF-8', systems: 0, multiTurn: 0 },
  { file: 'sharegpt.json', format: 'sharegpt', container: 'json', encoding: 'UTF-8', systems: 3, multiTurn: 1 },
  { file: 'openai.jsonl', format: 'openai', container: 'jsonl', encoding: 'UTF-8', systems: 4, multiTurn: 1 },
  { file: 'qa.csv', format: 'csv', container: 'csv', encoding: 'UTF-8', delimiter: ',', systems: 0, multiTurn: 0 },
  { file: 'qa-semicolon.csv', format: 'csv', container: 'csv', encoding: 'UTF-8', delimiter: ';', systems: 0, multiTurn: 0 },
  { file: 'qa.tsv', format: 'csv', container: 'csv', encoding: 'UTF-8', delimiter: '\t', systems: 0, multiTurn: 0 },
  { file: 'qa-utf16.csv', format: 'csv', container: 'csv', encoding: 'UTF-16 (little-endian)', delimiter: ',', systems: 0, multiTurn: 0 },
  { file: 'qa-cp1252.csv', format: 'csv', container: 'csv', encoding: 'Windows-1252 (Western European)', delimiter: ';', systems: 0, multiTurn: 0 },
  { file: 'qa.txt', format: 'qa', container: 'text', encoding: 'UTF-8', systems: 0, multiTurn: 0 },
  { file: 'qa.xlsx', format: 'xlsx', container: 'xlsx', systems: 1, multiTurn: 0 },
];

describe('every supported format imports the same eight examples', () => {
  for (const c of CASES) {
    it(c.file, async () => {
      const dir = tempDir();
      const out = path.join(dir, 'out.jsonl');
      const r = await importDataFile(path.join(FORMATS, c.file), { out });
      expectCountsAddUp(r);
      expect(r.format).toBe(c.format);
      expect(r.detected.container).toBe(c.container);
      if (c.encoding) expect(r.detected.encoding).toBe(c.encoding);
      if (c.delimiter) expect(r.detected.delimiter).toBe(c.delimiter);
      expect(r.counts).toMatchObject({ rowsRead: 8, imported: 8, rejected: 0 });
      expect(r.problems.filter((p) => p.severity !== 'info')).toEqual([]);
      expect(r.stats.withSystemPrompt).toBe(c.systems);
      expect(r.stats.multiTurn).toBe(c.multiTurn);
      const examples = await readNormalizedJsonl(out);
      expect(examples).toHaveLength(8);
      examples.forEach((e, i) => {
        const turns = e.messages.filter((m) => m.role !== 'system');
        expect(turns[0]).toEqual({ role: 'user', content: user(PAIRS[i]!) });
        expect(turns[1]).toEqual({ role: 'assistant', content: PAIRS[i]!.a });
        expect(e.source.file).toBe(c.file);
        expect(e.id).toMatch(/^[\w-]{16}$/);
      });
      // Accents and curly quotes survive every encoding.
      expect(examples[0]!.messages.at(-1)!.content).toContain('Chloé');
      expect(examples[0]!.messages.at(-1)!.content).toContain('I’m');
      expect(examples[3]!.messages.at(-1)!.content).toContain('£24.50');
      if (c.systems && c.format !== 'sharegpt' && c.format !== 'openai') expect(examples[0]!.messages[0]).toEqual({ role: 'system', content: SYSTEM });
      if (c.format === 'xlsx') {
        expect(examples[0]!.source).toMatchObject({ sheet: 'Answers', line: 2 });
        expect(r.detected.how).toBe('auto');
      }
    });
  }

  it('keeps multi-turn ShareGPT and OpenAI conversations whole, with their system prompts', async () => {
    const dir = tempDir();
    await importDataFile(path.join(FORMATS, 'sharegpt.json'), { out: path.join(dir, 's.jsonl') });
    const s = await readNormalizedJsonl(path.join(dir, 's.jsonl'));
    expect(s[1]!.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(s[0]!.messages[0]).toEqual({ role: 'system', content: SYSTEM });
    await importDataFile(path.join(FORMATS, 'openai.jsonl'), { out: path.join(dir, 'o.jsonl') });
    const o = await readNormalizedJsonl(path.join(dir, 'o.jsonl'));
    expect(o[2]!.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant']);
  });
});

describe('detection and overrides', () => {
  it('detects from content, not only from the extension', async () => {
    const dir = tempDir();
    const a = path.join(dir, 'data.txt');
    copyFileSync(path.join(FORMATS, 'alpaca.jsonl'), a);
    expect((await detectFormat(a)).format).toBe('alpaca');
    const b = path.join(dir, 'export.dat');
    copyFileSync(path.join(FORMATS, 'qa-semicolon.csv'), b);
    expect(await detectFormat(b)).toMatchObject({ format: 'csv', delimiter: ';' });
  });

  it('honours a chosen format and says when the file does not fit it', async () => {
    const r = await checkDataFile(path.join(FORMATS, 'alpaca.jsonl'), { format: 'alpaca' });
    expect(r.detected.how).toBe('chosen');
    expect(r.counts.imported).toBe(8);
    const bad = await checkDataFile(path.join(FORMATS, 'qa.csv'), { format: 'xlsx' });
    expect(bad.fatal).toBe(true);
    expect(bad.problems[0]).toMatchObject({ code: 'data.format-mismatch', severity: 'fatal' });
    const notJson = await checkDataFile(path.join(FORMATS, 'qa.csv'), { format: 'sharegpt' });
    expect(notJson.problems[0]!.code).toBe('data.format-mismatch');
  });

  it('a JSON object wrapping the list ({"data": [...]}) and a single example object', async () => {
    const dir = tempDir();
    const f = path.join(dir, 'wrapped.json');
    writeFileSync(f, JSON.stringify({ version: 1, data: PAIRS.map((p) => ({ question: p.q, answer: p.a })) }, null, 2));
    const r = await checkDataFile(f);
    expect(r.format).toBe('qa');
    expect(r.counts.imported).toBe(8);
    const one = path.join(dir, 'one.json');
    writeFileSync(one, JSON.stringify({ instruction: 'Hi?', output: 'Hello!' }, null, 2));
    expect((await checkDataFile(one)).counts.imported).toBe(1);
  });

  it('plain question/answer JSONL (prompt/completion)', async () => {
    const dir = tempDir();
    const f = path.join(dir, 'pc.jsonl');
    writeFileSync(f, PAIRS.map((p) => JSON.stringify({ prompt: p.q, completion: p.a })).join('\n'));
    const r = await checkDataFile(f);
    expect(r.format).toBe('qa');
    expect(r.counts.imported).toBe(8);
  });

  it('UTF-16 without a byte-order mark, big-endian, and UTF-8 with CRLF', async () => {
    const dir = tempDir();
    const text = 'Question,Answer\r\nWhere is my café order?,"It’s on its way, José."\r\n';
    const le = path.join(dir, 'le.csv');
    writeFileSync(le, Buffer.from(text, 'utf16le'));
    const be = path.join(dir, 'be.csv');
    writeFileSync(be, Buffer.concat([Buffer.from([0xfe, 0xff]), iconv.encode(text, 'utf16be')]));
    for (const f of [le, be]) {
      const out = path.join(dir, `${path.basename(f)}.jsonl`);
      const r = await importDataFile(f, { out });
      expect(r.counts.imported).toBe(1);
      const [e] = await readNormalizedJsonl(out);
      expect(e!.messages).toEqual([
        { role: 'user', content: 'Where is my café order?' },
        { role: 'assistant', content: 'It’s on its way, José.' },
      ]);
    }
  });
});

describe('column mapping', () => {
  it('maps columns by name, letter or number, with context and system columns', async () => {
    const r = await checkDataFile(path.join(FORMATS, 'qa.xlsx'), {
      map: { instruction: 'Customer question', response: 'C', context: 'details', system: '4' },
    });
    expect(r.counts.imported).toBe(8);
    expect(r.stats.withSystemPrompt).toBe(1);
  });

  it('a mapped column that is not there is a plain fatal error naming the columns', async () => {
    const r = await checkDataFile(path.join(FORMATS, 'qa.csv'), { map: { instruction: 'Question', response: 'Reply' } });
    expect(r.fatal).toBe(true);
    expect(r.problems[0]).toMatchObject({ code: 'data.missing-column', field: 'Reply' });
    expect(r.problems[0]!.message).toContain('There is no column called "Reply"');
    expect(r.problems[0]!.message).toContain('"Question", "Context", "Answer"');
  });

  it('picks the sheet by name and reports a missing one', async () => {
    const ok = await checkDataFile(path.join(FORMATS, 'qa.xlsx'), { sheet: 'answers' });
    expect(ok.counts.imported).toBe(8);
    const missing = await checkDataFile(path.join(FORMATS, 'qa.xlsx'), { sheet: 'Sheet9' });
    expect(missing.problems[0]).toMatchObject({ code: 'data.sheet-not-found' });
    expect(missing.problems[0]!.message).toContain('"Notes", "Answers"');
  });

  it('two columns with unknown names: first is the question, with a note saying so', async () => {
    const dir = tempDir();
    const f = path.join(dir, 'odd.csv');
    writeFileSync(f, 'Kunde,Wir\nWo ist meine Bestellung?,Sie ist unterwegs.\n');
    const r = await checkDataFile(f);
    expect(r.counts.imported).toBe(1);
    expect(r.problems[0]).toMatchObject({ code: 'data.columns-guessed', severity: 'info', rejected: false });
  });
});
