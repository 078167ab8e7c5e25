/**
 * Finding examples (issue #19, item 1): the list searches by words and gives each example its
 * number in its list and the row of the person's file; the length check before a run names long
 * examples by that number and row, not by a line of the project's copy.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, TINY_MODEL, type TestApp } from './harness.js';

describe('finding examples', () => {
  let app: TestApp;
  let dir: string;
  beforeAll(async () => {
    app = await createTestApp();
    dir = await mkdtemp(path.join(os.tmpdir(), 'attune-find-'));
    const rows = [
      JSON.stringify({ instruction: '', output: 'No question here.' }),
      ...Array.from({ length: 8 }, (_, i) => JSON.stringify({ instruction: `Question ${i + 2} about a ${i % 2 ? 'refund' : 'card'}?`, output: `Answer ${i + 2}.` })),
      JSON.stringify({ instruction: 'The long one?', output: 'Very long answer. '.repeat(120) }),
    ];
    await writeFile(path.join(dir, 'f.jsonl'), rows.join('\n') + '\n');
    await app.handlers['projects.create']({ name: 'F' });
    app.dialogAnswers.push(path.join(dir, 'f.jsonl'));
    const s = await app.handlers['data.add']({ project: 'F', from: { kind: 'dialog' } });
    await app.handlers['data.import']({ project: 'F', source: s!.source, valFraction: 0, seed: 42 });
    app.dialogAnswers.push(TINY_MODEL);
    await app.handlers['models.add']({ kind: 'folder' });
  });
  afterAll(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('searches in any case and keeps each example its number and file row', async () => {
    const all = await app.handlers['data.examples']({ project: 'F', split: 'train', offset: 0, limit: 50 });
    expect(all.total).toBe(9);
    const found = await app.handlers['data.examples']({ project: 'F', split: 'train', offset: 0, limit: 50, query: 'REFUND' });
    expect(found.total).toBe(4);
    for (const ex of found.examples) {
      expect(ex.messages[0]!.content).toContain('refund');
      // The same number and row as in the whole list.
      expect(all.examples[ex.number! - 1]).toEqual(ex);
      expect(ex.messages[0]!.content).toBe(`Question ${ex.row} about a refund?`);
    }
  });

  it('names long examples by their number and file row', async () => {
    const c = await app.handlers['tune.check']({ project: 'F', modelPath: TINY_MODEL, maxLength: 64 });
    expect(c.tooLong).toBe(1);
    const where = c.samples[0]!.where!;
    expect(where).toMatchObject({ split: 'train', row: 10 });
    const ex = (await app.handlers['data.examples']({ project: 'F', split: 'train', offset: where.number - 1, limit: 1 })).examples[0]!;
    expect(ex.messages[0]!.content).toBe('The long one?');
  });

  it('finds the example read from a row of the file (a warning names rows)', async () => {
    const where = (await app.handlers['data.locateRow']({ project: 'F', row: 5 }))!;
    expect(where).toMatchObject({ split: 'train', row: 5 });
    const ex = (await app.handlers['data.examples']({ project: 'F', split: 'train', offset: where.number - 1, limit: 1 })).examples[0]!;
    expect(ex.messages[0]!.content).toBe('Question 5 about a refund?');
    // Row 1 was left out: it is not among the examples.
    expect(await app.handlers['data.locateRow']({ project: 'F', row: 1 })).toBeNull();
  });
});
