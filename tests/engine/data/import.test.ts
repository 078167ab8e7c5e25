import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDataFile, importDataFile, readNormalizedJsonl, splitExamples } from '../../../src/engine/data/index.js';
import { ModelTokenizer } from '../../../src/engine/tokenizer/tokenizer.js';
import { FIXTURES, FORMATS, SAMPLES, STORIES_PATH, expectCountsAddUp, tempDir } from './helpers.js';

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

describe('importDataFile', () => {
  it('writes normalised JSONL atomically and never touches the original', async () => {
    const src = path.join(FIXTURES, 'broken.jsonl');
    const before = sha(src);
    const dir = tempDir();
    const out = path.join(dir, 'data.jsonl');
    const r = await importDataFile(src, { out });
    expect(r.out).toBe(out);
    expect(sha(src)).toBe(before);
    expect(readdirSync(dir)).toEqual(['data.jsonl']); // no temp file left
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(r.counts.imported);
    const examples = await readNormalizedJsonl(out);
    // Line 7 rewords line 1: a near duplicate, kept by default.
    expect(examples.map((e) => e.source.line)).toEqual([1, 7, 17]);
    expect(examples[2]!.messages[0]).toEqual({ role: 'system', content: 'Be brief.' });
  });

  it('refuses to replace an existing file unless forced, and never writes over the input', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'data.jsonl');
    writeFileSync(out, 'keep me\n');
    const r = await importDataFile(path.join(FORMATS, 'alpaca.jsonl'), { out });
    expect(r.fatal).toBe(true);
    expect(r.problems[0]!.code).toBe('data.output-exists');
    expect(readFileSync(out, 'utf8')).toBe('keep me\n');
    const forced = await importDataFile(path.join(FORMATS, 'alpaca.jsonl'), { out, force: true });
    expect(forced.counts.imported).toBe(8);
    expect((await readNormalizedJsonl(out)).length).toBe(8);
    const self = await importDataFile(out, { out, force: true });
    expect(self.problems[0]!.code).toBe('data.output-is-input');
  });

  it('writes nothing when nothing is imported', async () => {
    const dir = tempDir();
    const f = path.join(dir, 'bad.jsonl');
    writeFileSync(f, '{"instruction":"x","output":""}\nnot json\n');
    const out = path.join(dir, 'out.jsonl');
    const r = await importDataFile(f, { out });
    expectCountsAddUp(r);
    expect(r.counts.imported).toBe(0);
    expect(r.out).toBeUndefined();
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir)).toEqual(['bad.jsonl']);
  });

  it('the report split matches splitExamples on the written file (what the trainer does)', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'cs.jsonl');
    const r = await importDataFile(path.join(SAMPLES, 'customer-service.jsonl'), { out, valFraction: 0.15, seed: 3 });
    const { train, validation } = splitExamples(await readNormalizedJsonl(out), { valFraction: 0.15, seed: 3 });
    expect([train.length, validation.length]).toEqual([r.split.train, r.split.validation]);
  });

  it('reports progress up to the whole file', async () => {
    const seen: number[] = [];
    await checkDataFile(path.join(SAMPLES, 'customer-service.jsonl'), { onProgress: (p) => seen.push(p.bytesRead / p.totalBytes) });
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.at(-1)).toBe(1);
  });
});

describe('the bundled customer-service sample', () => {
  it('has at least 300 varied, clean examples in a consistent house style', async () => {
    const file = path.join(SAMPLES, 'customer-service.jsonl');
    const r = await checkDataFile(file);
    expectCountsAddUp(r);
    expect(r.format).toBe('openai');
    expect(r.counts.rowsRead).toBeGreaterThanOrEqual(300);
    expect(r.counts.rejected).toBe(0);
    expect(r.problems).toEqual([]);
    expect(r.stats.withSystemPrompt).toBeGreaterThan(30);
    expect(r.stats.multiTurn).toBeGreaterThan(0);
    const rows = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { messages: { role: string; content: string }[] });
    const replies = rows.flatMap((x) => x.messages.filter((m) => m.role === 'assistant').map((m) => m.content));
    expect(new Set(replies).size).toBe(replies.length);
    for (const reply of replies) {
      expect(reply).toMatch(/^(Hi|Hello|Dear|Thank you)/); // greeting
      expect(reply).toMatch(/Juniper Lane|\n(Mia|Rob|Anjali|Sam|Lotte|Femi)\b/); // sign-off
    }
    const topics = ['refund', 'deliver', 'damage|chipped|cracked|broken|smashed', 'password|log in|locked', 'charge|invoice|payment', 'sorry'];
    const conversations = rows.map((x) => x.messages.map((m) => m.content).join('\n'));
    for (const t of topics) expect(conversations.filter((x) => new RegExp(t, 'i').test(x)).length, t).toBeGreaterThan(15);
  });

  it('imports with the stories260K tokenizer: template lengths, nothing over 1024 tokens', async () => {
    const tok = await ModelTokenizer.fromFolder(STORIES_PATH);
    const r = await checkDataFile(path.join(SAMPLES, 'customer-service.jsonl'), { tokenizer: tok, maxLength: 1024 });
    expectCountsAddUp(r);
    expect(r.counts.rejected).toBe(0);
    expect(r.stats.tokenCounting).toBe('model');
    expect(r.stats.tokenLengths.p50).toBeGreaterThan(100);
    expect(r.estimatedTrainingSeconds).toBeGreaterThan(0);
    expect(r.estimatedTrainingSeconds).toBe(Math.ceil((r.training.trainTokens * 3) / r.training.tokensPerSecond));
  });
});
