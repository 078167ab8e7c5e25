/**
 * Files the Data step cannot read examples from (issue #19, item 3): the report names the
 * person's own file (not the working copy), says what the file is and what Attune reads instead,
 * speaks no command-line words, and counts no tokens or time for a file with nothing in it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appWords, sniffKind } from '../../src/main/services/file-kind.js';
import { formatDiagnostic } from '../../src/shared/diagnostics.js';
import { createTestApp, type TestApp } from './harness.js';

/** A minimal .docx: a zip with word/document.xml, written by Python's zipfile. */
function writeDocx(file: string): void {
  execFileSync('python3', ['-c', `import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w')\nz.writestr('[Content_Types].xml','<Types/>')\nz.writestr('word/document.xml','<w:document/>')\nz.close()`, file]);
}

describe('files that hold no examples', () => {
  let app: TestApp;
  let dir: string;
  beforeAll(async () => {
    app = await createTestApp();
    await app.handlers['projects.create']({ name: 'Files' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'attune-datafiles-'));
    writeDocx(path.join(dir, 'faq.docx'));
    writeDocx(path.join(dir, 'faq-renamed.csv'));
    await writeFile(path.join(dir, 'faq.pdf'), '%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n');
    await writeFile(path.join(dir, 'empty.csv'), '');
  });
  afterAll(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const check = async (name: string) => {
    app.dialogAnswers.push(path.join(dir, name));
    const s = await app.handlers['data.add']({ project: 'Files', from: { kind: 'dialog' } });
    return app.handlers['data.check']({ project: 'Files', source: s!.source });
  };

  it.each([
    ['faq.docx', /^“faq\.docx” looks like a Word document, which Attune cannot read examples from\. Attune reads a CSV file, an Excel workbook \(\.xlsx\), a JSON or JSONL file, or a plain text file with Q: and A: lines\./],
    ['faq-renamed.csv', /^“faq-renamed\.csv” looks like a Word document/],
    ['faq.pdf', /^“faq\.pdf” looks like a PDF document, which Attune cannot read examples from\. Attune reads a CSV file/],
    ['empty.csv', /^“empty\.csv” is empty, so there are no examples to import\.$/],
  ])('%s: says what it is and what to use, by its own name, with nothing counted', async (name, words) => {
    const r = await check(name);
    expect(r.fatal).toBe(true);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]!.message).toMatch(words);
    expect(r.problems[0]!.message).not.toMatch(/working|--format|sheet/);
    expect(r.tokens).toBeUndefined();
    expect(r.estimatedTrainingSeconds).toBeUndefined();
  });

  it('a chosen file that is gone by the time it is copied is named, in words', async () => {
    app.dialogAnswers.push(path.join(dir, 'gone.csv'));
    await expect(app.handlers['data.add']({ project: 'Files', from: { kind: 'dialog' } })).rejects.toThrow(
      'Attune could not open “gone.csv”: the file is no longer there. Check that the file is still there and that you may open it, then choose it again.',
    );
  });

  it("speaks of the app's own controls, not command-line options", async () => {
    await writeFile(path.join(dir, 'near.jsonl'), '{"instruction": "How do I reset my password please?", "output": "Open Settings."}\n{"instruction": "How do I reset my password, please?", "output": "Open Settings."}\n');
    const r = await check('near.jsonl');
    const near = r.problems.find((p) => p.code === 'data.near-duplicate')!;
    expect(near.message).toMatch(/\(tick “Leave out near duplicates” under “Keep some examples aside”\)\.$/);
    for (const [code, params] of [
      ['data.near-duplicate', { where: 'Line 3', first: 'Line 1', similarity: 97 }],
      ['data.columns-unrecognised', { file: 'a.csv', columns: 'A, B', first: 'A', second: 'B' }],
      ['data.template-unstable', { where: 'Line 2', detail: 'x' }],
    ] as const) {
      const words = appWords(formatDiagnostic(code, params));
      expect(words, code).not.toMatch(/--[a-z]/);
    }
  });

  it('tells file kinds by their first bytes', () => {
    expect(sniffKind(Buffer.from('question,answer\nHi,Hello\n'))).toBeUndefined();
    expect(sniffKind(Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0, 0]))).toBe('old-office');
    expect(sniffKind(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0]))).toBe('picture');
    expect(sniffKind(Buffer.from([0xff, 0xfe, 0x71, 0x00]))).toBeUndefined(); // UTF-16 text
    expect(sniffKind(Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.from('xl/workbook.xml')]))).toBeUndefined();
  });
});
