/**
 * Mis-decoded text (issue #13.2): rows whose text shows a wrong code page somewhere on its way
 * ("?" where letters were, U+FFFD, private-use characters, UTF-8 read as Windows-1252 in any
 * script) are left out with the reason in plain words, and a file where most rows are like that
 * is named once with the advice to save it as UTF-8. Sound text in any language passes.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { checkDataFile } from '../../../src/engine/data/index.js';
import { findMisdecoding } from '../../../src/engine/data/mojibake.js';
import { expectCountsAddUp, tempDir } from './helpers.js';

/** What a UTF-8 text looks like after being read as Windows-1252 (the mojibake a real tool makes). */
function asWindows1252(text: string): string {
  const bytes = new TextEncoder().encode(text);
  return new TextDecoder('windows-1252').decode(bytes);
}

// Cells of a spreadsheet that went through the wrong code page (as in the real file).
const BAD_ROWS: [question: string, answer: string, kind: string][] = [
  ['¿Qu? es la capital de Espa?a?', 'La capital de Espa?a es Madrid.', 'question-marks'],
  ['Wie gro\uFFFD ist M\uFFFDnchen?', 'M\uFFFDnchen hat etwa 1,5 Millionen Einwohner.', 'replacement'],
  [asWindows1252('Что такое машинное обучение?'), asWindows1252('Это раздел искусственного интеллекта.'), 'mojibake'],
  ['\uF0B7 Which plan suits a family?', 'The family plan \uF0A7 covers four people.', 'private-use'],
  [asWindows1252('“中文”是什么意思?'), asWindows1252('它是中国的语言。'), 'mojibake'],
  [asWindows1252('How do I say café in French?'), asWindows1252('You say “café”, it’s the same word.'), 'mojibake'],
  ['??? ?? ???? ?????', '???? ??? ????? ?? ?????', 'question-marks'],
];
const GOOD_ROWS: [string, string][] = [
  ['Can I pay by card??', 'Yes, by any card. ¿Algo más?'],
  ['Où est la gare\u00A0?', 'C’est là\u00A0» dit-il. « Bonjour\u00A0», à bientôt.'],
];

async function workbook(rows: [string, string][]): Promise<string> {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('Answers');
  ws.addRow(['Question', 'Answer']);
  for (const r of rows) ws.addRow(r);
  const file = path.join(tempDir(), 'support.xlsx');
  await wb.xlsx.writeFile(file);
  return file;
}

describe('mis-decoded text is left out, in plain words', () => {
  it('a spreadsheet whose cells went through the wrong code page: every such row is named, and the file once', async () => {
    const file = await workbook([...BAD_ROWS.map(([q, a]) => [q, a] as [string, string]), ...GOOD_ROWS]);
    const r = await checkDataFile(file);
    expectCountsAddUp(r);
    expect(r.counts).toMatchObject({ rowsRead: 9, imported: 2, rejected: 7 });
    expect(r.counts.rejectedBy).toEqual({ 'data.question-marks': 2, 'data.encoding-invalid': 1, 'data.mojibake': 3, 'data.private-use': 1 });
    const byRow = new Map(r.problems.filter((p) => p.rejected).map((p) => [p.line, p]));
    expect(byRow.get(2)!.message).toMatch(/^Row 2 \(sheet 'Answers'\): the "Question" column has question marks where letters should be \(".*Espa\?a/);
    expect(byRow.get(4)!.message).toContain('garbled characters');
    expect(byRow.get(5)!.message).toMatch(/belong to no alphabet \(U\+F0B7 near "Which/);
    expect(byRow.get(6)!.message).toContain('garbled');
    // The file as a whole, once, before the rows.
    const file0 = r.problems.filter((p) => p.code === 'data.file-misdecoded');
    expect(file0).toHaveLength(1);
    expect(r.problems[0]).toBe(file0[0]);
    expect(file0[0]).toMatchObject({ line: 0, severity: 'warning', rejected: false });
    expect(file0[0]!.message).toContain('(7 of 9)');
    expect(file0[0]!.message).toContain('UTF-8');
  });

  it('a CSV with one mis-decoded row: the row is named, the file is not', async () => {
    const file = path.join(tempDir(), 'faq.csv');
    const rows = [['Question', 'Answer'], ...GOOD_ROWS, ['Do you ship to Japan?', 'Yes, to 東京 and everywhere else 🚚.'], [asWindows1252('Где мой заказ?'), 'It is on its way.']];
    writeFileSync(file, rows.map((r) => r.map((c) => `"${c.replace(/"/g, '""')}"`).join(',')).join('\n') + '\n');
    const r = await checkDataFile(file);
    expectCountsAddUp(r);
    expect(r.counts).toMatchObject({ rowsRead: 4, imported: 3, rejected: 1 });
    expect(r.problems.find((p) => p.rejected)).toMatchObject({ code: 'data.mojibake', line: 5, field: 'Question' });
    expect(r.problems.some((p) => p.code === 'data.file-misdecoded')).toBe(false);
  });

  it('finds each trace, in any script', () => {
    for (const [q, a, kind] of BAD_ROWS) expect(findMisdecoding(q) ?? findMisdecoding(a), q).toMatchObject({ kind });
    for (const s of ['Ελληνικά γράμματα', 'مرحبا بالعالم', '日本語のテキスト', 'Ärger über Öl', 'naïve café', '😀 👍🏽 emoji']) {
      expect(findMisdecoding(asWindows1252(s)), s).toMatchObject({ kind: 'mojibake' });
    }
    expect(findMisdecoding(asWindows1252('\uFFFD'))).toMatchObject({ kind: 'mojibake' }); // "ï¿½"
  });

  it('leaves sound text alone: "??", accents, guillemets, CJK, emoji, URLs, code', () => {
    const good = [
      'Really?? Are you sure??', 'What?!', 'Pourquoi ??', 'Why ???', '¿Dónde está? ¡Aquí!', 'Où est la gare\u00A0? « Là-bas\u00A0», c’est là\u00A0»',
      'Ein herzlicher „Gruß“ aus München… und »Grüße« für Jürgen', 'Perché…” disse', 'São Paulo, Ångström, Ça va, Ärger, Øresund, Ñandú',
      '中文是中国的语言。你好吗？', 'こんにちは、元気ですか？', 'Привет, как дела?', 'Γειά σου κόσμε', 'שלום עולם', 'مرحبا', '😀 👍🏽 🇫🇷 ❤️',
      'See https://example.com/search?q=refund&lang=en for details', 'const x = ok ? a : b; const y = a?.b ?? c;', 'Price: £20 or €25 — 10°C, ½ off',
      'It costs $5?', 'Who wrote "Hamlet"?', '???', 'Answer: ??',
    ];
    for (const s of good) expect(findMisdecoding(s), s).toBeUndefined();
  });
});
