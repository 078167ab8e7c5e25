/**
 * Fixing a rejected row as its fields (issue #19, item 4): JSONL rows (even with broken JSON) and
 * CSV rows under their header become named fields, the missing answer is there to fill in, and the
 * fixed row is written back in the file's own syntax and accepted.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowFields, rowTextFromFields, splitCells } from '../../src/main/services/row-fields.js';
import { Workspace } from '../../src/main/workspace.js';
import { createTestApp, ROOT, type TestApp } from './harness.js';

describe('rows as fields', () => {
  it('reads JSONL rows, broken or not, and CSV rows under their header', () => {
    expect(rowFields('a.jsonl', ['{"instruction": "Broken row with no answer"'], 1, 'alpaca')).toEqual([
      { name: 'instruction', value: 'Broken row with no answer', needed: true },
      { name: 'output', value: '', needed: true },
    ]);
    expect(rowFields('a.jsonl', ['{"messages":[{"role":"user","content":"x"}]}'], 1, 'openai')).toBeUndefined();
    const csv = ['question;answer', '"Hi; there";'];
    expect(rowFields('a.csv', csv, 2, 'csv', 'answer')).toEqual([
      { name: 'question', value: 'Hi; there' },
      { name: 'answer', value: '', needed: true },
    ]);
    const back = rowTextFromFields('a.csv', csv, 2, [
      { name: 'question', value: 'Hi; there' },
      { name: 'answer', value: 'Say "hello"' },
    ]);
    expect(back).toBe('"Hi; there";"Say ""hello"""');
    expect(splitCells(back, ';')).toEqual(['Hi; there', 'Say "hello"']);
    expect(rowTextFromFields('a.jsonl', ['{"instruction": "Q?"'], 1, [{ name: 'output', value: 'Line one\nline two' }])).toBe('{"instruction":"Q?","output":"Line one\\nline two"}');
  });

  describe('in the app', () => {
    let app: TestApp;
    let dir: string;
    beforeAll(async () => {
      app = await createTestApp();
      dir = await mkdtemp(path.join(os.tmpdir(), 'attune-rowfields-'));
      await app.handlers['projects.create']({ name: 'Rows' });
    });
    afterAll(async () => {
      await app?.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('fixes the broken JSONL row by its answer, and the row is accepted', async () => {
      app.dialogAnswers.push(path.join(ROOT, 'tests', 'app', 'fixtures', 'support.jsonl'));
      const s = (await app.handlers['data.add']({ project: 'Rows', from: { kind: 'dialog' } }))!;
      const before = await app.handlers['data.check']({ project: 'Rows', source: s.source });
      const broken = before.problems.find((p) => p.line === 4)!;
      expect(broken.rowFields).toEqual([
        { name: 'instruction', value: 'Broken row with no answer', needed: true },
        { name: 'output', value: '', needed: true },
      ]);
      const after = await app.handlers['data.fixRowFields']({ project: 'Rows', source: s.source, line: 4, fields: [{ name: 'instruction', value: 'Do you open on Sundays?' }, { name: 'output', value: 'No, we are closed on Sundays.' }] });
      expect(after.rejected).toBe(0);
      expect(after.accepted).toBe(before.accepted + 1);
      const working = await readFile(path.join(new Workspace(app.workspace).workingDir('Rows'), s.source), 'utf8');
      expect(working.split('\n')[3]).toBe('{"instruction":"Do you open on Sundays?","output":"No, we are closed on Sundays."}');
    });

    it('fixes a CSV row with an empty answer by its column', async () => {
      await writeFile(path.join(dir, 'faq.csv'), 'question;answer\nHi?;Hello.\nNo answer?;\n');
      app.dialogAnswers.push(path.join(dir, 'faq.csv'));
      const s = (await app.handlers['data.add']({ project: 'Rows', from: { kind: 'dialog' } }))!;
      const before = await app.handlers['data.check']({ project: 'Rows', source: s.source });
      expect(before.problems.find((p) => p.line === 3)?.rowFields).toEqual([
        { name: 'question', value: 'No answer?' },
        { name: 'answer', value: '', needed: true },
      ]);
      const after = await app.handlers['data.fixRowFields']({ project: 'Rows', source: s.source, line: 3, fields: [{ name: 'question', value: 'No answer?' }, { name: 'answer', value: 'Now; there is one.' }] });
      expect(after.rejected).toBe(0);
      expect(after.accepted).toBe(2);
    });
  });
});
