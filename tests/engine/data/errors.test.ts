import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkDataFile, type DataReport, type Problem } from '../../../src/engine/data/index.js';
import { DIAGNOSTICS } from '../../../src/shared/diagnostics.js';
import { FIXTURES, expectCountsAddUp, tempDir } from './helpers.js';

const byLine = (r: DataReport) => new Map(r.problems.filter((p) => p.rejected).map((p) => [p.line, p] as [number, Problem]));

describe('every row is imported or reported with file, line, field and reason', () => {
  it('JSONL: one line per error class', async () => {
    const file = path.join(FIXTURES, 'broken.jsonl');
    const r = await checkDataFile(file);
    expectCountsAddUp(r);
    expect(r.format).toBe('openai');
    // Line 7 rewords line 1: kept by default, with a warning naming both lines.
    expect(r.counts).toMatchObject({ rowsRead: 16, imported: 3, rejected: 13, exactDuplicates: 1, nearDuplicates: 1, duplicates: 2, warnings: 1 });
    const p = byLine(r);
    const expected: [number, string, string | undefined][] = [
      [2, 'data.invalid-json', undefined],
      [3, 'data.empty-response', 'messages[1]'],
      [4, 'data.unknown-role', 'messages[0]'],
      [5, 'data.not-ending-with-assistant', 'messages[2]'],
      [6, 'data.duplicate', undefined],
      [8, 'data.mojibake', 'messages[0]'],
      [9, 'data.wrong-type', 'messages'],
      [10, 'data.wrong-type', 'messages[0].content'],
      [11, 'data.not-an-object', undefined],
      [12, 'data.first-not-user', 'messages[0]'],
      [13, 'data.system-not-first', 'messages[1]'],
      [14, 'data.roles-not-alternating', 'messages[1]'],
      [16, 'data.mixed-formats', undefined],
    ];
    for (const [line, code, field] of expected) {
      const prob = p.get(line);
      expect(prob, `line ${line}`).toBeDefined();
      expect(prob).toMatchObject({ code, file, line, rejected: true, severity: DIAGNOSTICS[code as keyof typeof DIAGNOSTICS].severity });
      if (field) expect(prob!.field).toBe(field);
      expect(prob!.message.startsWith(`Line ${line}: `)).toBe(true);
    }
    expect(p.get(6)!.message).toContain('exactly the same as Line 1');
    expect(p.get(7)).toBeUndefined();
    expect(r.problems.find((x) => x.line === 7)).toMatchObject({ code: 'data.near-duplicate', rejected: false, severity: 'warning' });
    expect(r.problems.find((x) => x.line === 7)!.message).toMatch(/^Line 7: this example is almost the same as Line 1 \(\d+% alike\)\. Both are kept/);
    expect(p.get(8)!.message).toContain('Ã©');
    expect(p.get(4)!.message).toContain('"customer"');
  });

  it('CSV: empty cell, broken quotes (later rows still read), mojibake, duplicate', async () => {
    const r = await checkDataFile(path.join(FIXTURES, 'broken.csv'));
    expectCountsAddUp(r);
    expect(r.counts).toMatchObject({ rowsRead: 7, imported: 3, rejected: 4 });
    const p = byLine(r);
    expect(p.get(3)).toMatchObject({ code: 'data.empty-response', field: 'Answer' });
    expect(p.get(3)!.message).toBe('Row 3: the "Answer" column is empty, so there is nothing for the model to learn from this example.');
    expect(p.get(5)).toMatchObject({ code: 'data.csv-malformed' });
    expect(p.get(5)!.message).toContain('line 6');
    expect(p.get(7)).toMatchObject({ code: 'data.mojibake', field: 'Question' });
    expect(p.get(8)).toMatchObject({ code: 'data.duplicate' });
  });

  it('XLSX: rows and sheet named', async () => {
    const r = await checkDataFile(path.join(FIXTURES, 'broken.xlsx'));
    expectCountsAddUp(r);
    expect(r.counts).toMatchObject({ rowsRead: 5, imported: 3, rejected: 2 });
    const p = byLine(r);
    expect(p.get(3)).toMatchObject({ code: 'data.empty-response', sheet: 'Answers', field: 'Response' });
    expect(p.get(3)!.message).toBe("Row 3 (sheet 'Answers'): the \"Response\" column is empty, so there is nothing for the model to learn from this example.");
    expect(p.get(6)).toMatchObject({ code: 'data.mojibake', sheet: 'Answers' });
  });

  it('JSON array: a broken element costs only itself; text after "]" is noted', async () => {
    const r = await checkDataFile(path.join(FIXTURES, 'broken-array.json'));
    expectCountsAddUp(r);
    expect(r.counts).toMatchObject({ rowsRead: 4, imported: 2, rejected: 2 });
    const p = byLine(r);
    expect(p.get(3)).toMatchObject({ code: 'data.invalid-json' });
    expect(p.get(3)!.message).toMatch(/^Example 2 \(line 3\): /);
    expect(p.get(4)).toMatchObject({ code: 'data.wrong-type', field: 'output' });
    expect(r.problems.find((x) => x.code === 'data.json-structure')).toMatchObject({ line: 7, rejected: false });
  });

  it('Q/A text: stray text, a question without answer, an answer without question', async () => {
    const r = await checkDataFile(path.join(FIXTURES, 'qa-broken.txt'));
    expectCountsAddUp(r);
    expect(r.counts).toMatchObject({ rowsRead: 5, imported: 2, rejected: 3 });
    expect([...byLine(r).keys()].sort((a, b) => a - b)).toEqual([1, 7, 11]);
  });

  it('a file cut short in the middle of a line', async () => {
    const r = await checkDataFile(path.join(FIXTURES, 'truncated.jsonl'));
    expectCountsAddUp(r);
    expect(r.counts).toMatchObject({ rowsRead: 2, imported: 1 });
    expect(byLine(r).get(2)!.code).toBe('data.invalid-json');
  });

  it('file-level problems are fatal, plain, and count nothing', async () => {
    const cases: [string, string][] = [
      ['empty.csv', 'data.file-empty'],
      ['unknown.dat', 'data.format-unknown'],
      ['unrecognised.csv', 'data.columns-unrecognised'],
      ['does-not-exist.jsonl', 'data.file-unreadable'],
    ];
    for (const [name, code] of cases) {
      const r = await checkDataFile(path.join(FIXTURES, name));
      expect(r.fatal, name).toBe(true);
      expect(r.problems[0]).toMatchObject({ code, severity: 'fatal' });
      expect(r.counts.rowsRead).toBe(0);
      expect(r.problems[0]!.message).not.toMatch(/\{\w+\}/);
    }
    const old = path.join(tempDir(), 'old.xls');
    writeFileSync(old, Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0, 0]));
    const r = await checkDataFile(old);
    expect(r.problems[0]!.code).toBe('data.format-mismatch');
    expect(r.problems[0]!.message).toContain('.xlsx');
  });

  it('invalid bytes in a UTF-8 file are named per row', async () => {
    const f = path.join(tempDir(), 'mixed.csv');
    // Valid UTF-8 for the first 64 KiB (the sample), then a Windows-1252 byte.
    const good = 'Question,Answer\n' + Array.from({ length: 1500 }, (_, i) => `Question number ${i} about an order?,Answer number ${i} with the next step.`).join('\n') + '\n';
    writeFileSync(f, Buffer.concat([Buffer.from(good), Buffer.from('Caf'), Buffer.from([0xe9]), Buffer.from(' question?,An answer.\n')]));
    const r = await checkDataFile(f);
    expectCountsAddUp(r);
    expect(r.counts.rejectedBy['data.encoding-invalid']).toBe(1);
    expect(r.problems.find((p) => p.code === 'data.encoding-invalid')).toMatchObject({ line: 1502, field: 'Question' });
  });

  it('long lists of one problem are capped but always counted', async () => {
    const f = path.join(tempDir(), 'many.jsonl');
    writeFileSync(f, Array.from({ length: 250 }, () => '{"instruction": "x", "output": ""}').join('\n') + '\n{"instruction":"ok","output":"fine"}\n');
    const r = await checkDataFile(f, { maxProblemsPerCode: 10 });
    expect(r.counts).toMatchObject({ rowsRead: 251, imported: 1, rejected: 250 });
    expect(r.counts.rejectedBy['data.empty-response']).toBe(250);
    expect(r.problemCounts['data.empty-response']).toBe(250);
    expect(r.problems.filter((p) => p.code === 'data.empty-response')).toHaveLength(10);
    expect(r.problems.find((p) => p.code === 'data.problems-truncated')!.message).toContain('240 more');
  });
});

describe('the catalogue', () => {
  it('every entry is a plain sentence with a known severity, and codes are unique per area', () => {
    for (const [code, e] of Object.entries(DIAGNOSTICS)) {
      expect(e.code).toBe(code);
      expect(['fatal', 'error', 'warning', 'info']).toContain(e.severity);
      expect(e.template.length).toBeGreaterThan(10);
      expect(e.template).not.toMatch(/undefined|null|NaN|TODO/);
    }
  });
});
