/**
 * Property-based tests: random and corrupted inputs never crash the importer, and every row is
 * either imported or reported (never lost without a report).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkDataFile, importDataFile, readNormalizedJsonl, type DataReport } from '../../../src/engine/data/index.js';
import { expectCountsAddUp, tempDir } from './helpers.js';

const dir = tempDir();
let n = 0;
const fresh = (ext: string) => path.join(dir, `f${n++}${ext}`);

const noBreaks = (s: string) => s.replace(/[\r\n]/g, ' ');
const text = fc.string({ maxLength: 40, unit: fc.constantFrom('a', 'b', ' ', 'é', '’', '"', ',', ';', '\t', '\n', 'Ã', '©', '{', '}', '😀', 'x', 'y') });

const validAlpaca = fc.record({ instruction: text, input: fc.option(text, { nil: undefined }), output: text });
const validChat = fc.record({
  messages: fc.array(fc.record({ role: fc.constantFrom('system', 'user', 'assistant', 'human', 'gpt', 'tool', 'robot'), content: fc.oneof(text, fc.integer()) }), { maxLength: 5 }),
});

/** One JSONL line: valid record, random JSON, garbage, or a corrupted record. */
const jsonlLine = fc.oneof(
  validAlpaca.map((r) => JSON.stringify(r)),
  validChat.map((r) => JSON.stringify(r)),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? 'null'),
  text.map(noBreaks),
  fc.tuple(validAlpaca, fc.nat(), fc.nat()).map(([r, cut, at]) => {
    const s = JSON.stringify(r);
    const i = cut % (s.length + 1);
    return at % 2 ? s.slice(0, i) : s.slice(0, i) + '"' + s.slice(i);
  }),
  fc.constant(''),
);

/** Lines that count as rows: not blank (whitespace-only lines are not rows). */
function rowLines(lines: string[]): number[] {
  return lines.map((l, i) => (l.replace(/^\uFEFF/, '').trim() ? i + 1 : 0)).filter(Boolean);
}

function expectEveryRowAccountedFor(r: DataReport, importedLines: number[], rows: number[]) {
  expectCountsAddUp(r);
  expect(r.counts.rowsRead).toBe(rows.length);
  const rejectedLines = r.problems.filter((p) => p.rejected).map((p) => p.line);
  expect(new Set(rejectedLines).size).toBe(rejectedLines.length); // one reason per row
  const all = [...importedLines, ...rejectedLines].sort((a, b) => a - b);
  expect(all).toEqual(rows);
}

describe('JSONL: random and corrupted lines', () => {
  it('never crashes; every non-blank line is imported or reported, with its line number', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(jsonlLine, { maxLength: 30 }), fc.constantFrom('alpaca', 'openai', 'sharegpt', 'dolly', 'qa') as fc.Arbitrary<'alpaca'>, async (lines, format) => {
        const f = fresh('.jsonl');
        writeFileSync(f, lines.join('\n'));
        const out = fresh('.out.jsonl');
        const r = await importDataFile(f, { out, format });
        const rows = rowLines(lines);
        if (rows.length === 0 || r.fatal) {
          expect(r.counts.imported).toBe(0);
          return;
        }
        if (r.detected.container === 'text') {
          // Chosen "qa" on text that is not JSON: read as Q:/A: text, where rows are blocks, not lines.
          expectCountsAddUp(r);
          return;
        }
        const imported = r.counts.imported ? (await readNormalizedJsonl(out)).map((e) => e.source.line) : [];
        expectEveryRowAccountedFor(r, imported, rows);
      }),
      { numRuns: 80 },
    );
  });

  it('auto-detection with a valid first line behaves the same', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(jsonlLine, { maxLength: 20 }), async (lines) => {
        const all = [JSON.stringify({ instruction: 'Where is my order?', output: 'On its way.' }), ...lines];
        const f = fresh('.jsonl');
        writeFileSync(f, all.join('\r\n'));
        const r = await checkDataFile(f);
        expect(r.fatal).toBe(false);
        expectCountsAddUp(r);
        expect(r.counts.rowsRead).toBe(rowLines(all).length);
      }),
      { numRuns: 40 },
    );
  });
});

describe('CSV', () => {
  const cell = fc.string({ maxLength: 25, unit: fc.constantFrom('a', 'b', ' ', '"', ',', ';', '\n', '\r\n', 'é', '’', 'x', '1') });
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;

  it('well-formed files: every row with a question and an answer comes back cell for cell', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(cell, cell), { maxLength: 20 }), fc.constantFrom(',', ';', '\t'), fc.boolean(), async (rows, d, bom) => {
        const f = fresh('.csv');
        const body = [`Question${d}Answer`, ...rows.map(([q, a]) => `${quote(q)}${d}${quote(a)}`)].join('\r\n') + '\r\n';
        writeFileSync(f, (bom ? '\uFEFF' : '') + body);
        const out = fresh('.out.jsonl');
        const r = await importDataFile(f, { out, format: 'csv' });
        expectCountsAddUp(r);
        const nonBlank = rows.filter(([q, a]) => q.trim() || a.trim());
        expect(r.counts.rowsRead).toBe(nonBlank.length);
        const got = r.counts.imported ? await readNormalizedJsonl(out) : [];
        for (const e of got) {
          const [q, a] = rows[e.source.line - 2]!; // spreadsheet row numbers: header = 1
          expect(e.messages).toEqual([
            { role: 'user', content: q.replace(/\r\n?/g, '\n').trim() },
            { role: 'assistant', content: a.replace(/\r\n?/g, '\n').trim() },
          ]);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('corrupted files (stray quotes, cut short) never crash and add up', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(cell, cell), { minLength: 1, maxLength: 15 }), fc.array(fc.nat(), { maxLength: 4 }), fc.nat(), async (rows, quotes, cut) => {
        let body = ['Question,Answer', ...rows.map(([q, a]) => `${quote(q)},${quote(a)}`)].join('\n');
        for (const qpos of quotes) {
          const i = qpos % (body.length + 1);
          body = body.slice(0, i) + '"' + body.slice(i);
        }
        body = body.slice(0, Math.max(16, cut % (body.length + 1)));
        const f = fresh('.csv');
        writeFileSync(f, body);
        const r = await checkDataFile(f, { format: 'csv' });
        if (r.fatal) return;
        expectCountsAddUp(r);
        expect(r.counts.rowsRead).toBeLessThanOrEqual(body.split(/\r\n|\n|\r/).length);
      }),
      { numRuns: 80 },
    );
  });
});

describe('anything at all', () => {
  it('random bytes under any name: a report, never an exception', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.constantFrom('.json', '.jsonl', '.csv', '.tsv', '.txt', '.xlsx', '.bin'), async (bytes, ext) => {
        const f = fresh(ext);
        writeFileSync(f, bytes);
        const r = await checkDataFile(f);
        if (!r.fatal) expectCountsAddUp(r);
        else expect(r.problems[0]!.severity).toBe('fatal');
      }),
      { numRuns: 80 },
    );
  });

  it('JSON arrays of random values: one row per element', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(validAlpaca, fc.jsonValue({ maxDepth: 2 })), { maxLength: 15 }), async (items) => {
        const f = fresh('.json');
        writeFileSync(f, JSON.stringify(items, null, fc.sample(fc.constantFrom(0, 2), 1)[0]));
        const r = await checkDataFile(f, { format: 'alpaca' });
        expectCountsAddUp(r);
        expect(r.counts.rowsRead).toBe(items.length);
      }),
      { numRuns: 60 },
    );
  });
});
