/**
 * Writes the small per-format samples (resources/samples/formats/) and the binary test fixtures
 * (tests/engine/data/fixtures/*.xlsx). Every sample holds the same eight question/answer pairs,
 * with accents, curly quotes and "£" so that encodings are exercised.
 * Run: npx tsx tests/engine/data/tools/make-format-samples.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ExcelJS from 'exceljs';
import iconv from 'iconv-lite';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const outDir = path.join(root, 'resources/samples/formats');
const fixDir = path.join(root, 'tests/engine/data/fixtures');

export const SYSTEM = 'You answer customer emails for Juniper Lane. Be warm and brief.';

export const PAIRS: { q: string; ctx?: string; a: string }[] = [
  { q: 'Where is my order JL-20431? It was due on Friday.', a: 'Hi Chloé,\n\nI’m sorry it’s late. The courier scanned it at their hub on Friday, so it should reach you tomorrow. I’ll check again in the morning.\n\nWarm wishes,\nMia at Juniper Lane' },
  { q: 'Can I return a teapot I bought last week?', a: 'Hello Tom,\n\nOf course. You have 30 days to return anything unused, and the label is free. I’ve emailed it to you now.\n\nBest wishes,\nRob' },
  { q: 'My mug arrived chipped.', ctx: 'Order JL-33120, delivered Tuesday.', a: 'Hi Priya,\n\nOh no, I’m sorry! There’s no need to send it back: a replacement leaves today by express delivery.\n\nKind regards,\nSam' },
  { q: 'I was charged twice for the same order.', a: 'Dear José,\n\nI’m sorry for the worry. I’ve refunded the duplicate payment of £24.50 today; banks take 3–5 working days to show it.\n\nWith thanks,\nAnjali' },
  { q: 'The password reset link says it has expired.', a: 'Hi Lukas,\n\nReset links last one hour for security. I’ve sent you a fresh one; please use it within the hour.\n\nSpeak soon,\nLotte' },
  { q: 'Do you ship to Ireland?', a: 'Hello Aoife,\n\nYes! Delivery to Ireland is £9.95 and takes 5–7 working days, with import taxes already paid by us.\n\nWarm wishes,\nFemi' },
  { q: 'Can I pause my tea subscription for two months?', a: 'Hi Zoë,\n\nDone: your subscription is paused for two months and restarts by itself after that.\n\nBest wishes,\nMia' },
  { q: 'The discount code SPRING15 does not work.', a: 'Hello Ravi,\n\nSorry for the confusion. SPRING15 needs a basket of £40 before delivery; yours is £36, which is why it didn’t apply.\n\nKind regards,\nRob' },
];

const userText = (p: (typeof PAIRS)[number]) => (p.ctx ? `${p.q}\n\n${p.ctx}` : p.q);

function csvCell(s: string, delim: string): string {
  return /["\n\r]/.test(s) || s.includes(delim) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function table(delim: string, withContext = true): string {
  const header = withContext ? ['Question', 'Context', 'Answer'] : ['Question', 'Answer'];
  const rows = PAIRS.map((p) => (withContext ? [p.q, p.ctx ?? '', p.a] : [userText(p), p.a]));
  return [header, ...rows].map((r) => r.map((c) => csvCell(c, delim)).join(delim)).join('\r\n') + '\r\n';
}

export async function writeXlsx(file: string, sheets: { name: string; rows: (string | number | null)[][] }[]): Promise<void> {
  const wb = new ExcelJS.Workbook();
  for (const s of sheets) {
    const ws = wb.addWorksheet(s.name);
    for (const r of s.rows) ws.addRow(r);
  }
  await wb.xlsx.writeFile(file);
}

async function main() {
  mkdirSync(outDir, { recursive: true });
  mkdirSync(fixDir, { recursive: true });
  const w = (name: string, data: string | Buffer) => writeFileSync(path.join(outDir, name), data);

  const alpaca = PAIRS.map((p, i) => ({ instruction: p.q, input: p.ctx ?? '', output: p.a, ...(i === 0 ? { system: SYSTEM } : {}) }));
  w('alpaca.json', JSON.stringify(alpaca, null, 2) + '\n');
  w('alpaca.jsonl', alpaca.map((r) => JSON.stringify(r)).join('\n') + '\n');
  w('dolly.jsonl', PAIRS.map((p) => JSON.stringify({ instruction: p.q, context: p.ctx ?? '', response: p.a, category: 'customer_service' })).join('\n') + '\n');
  const sharegpt = PAIRS.map((p, i) => ({
    conversations: [
      ...(i % 3 === 0 ? [{ from: 'system', value: SYSTEM }] : []),
      { from: 'human', value: userText(p) },
      { from: 'gpt', value: p.a },
      ...(i === 1 ? [{ from: 'human', value: 'Thanks! Do I need the original box?' }, { from: 'gpt', value: 'Hi again Tom,\n\nAny sturdy box is fine; the original isn’t needed.\n\nBest wishes,\nRob' }] : []),
    ],
  }));
  w('sharegpt.json', JSON.stringify(sharegpt, null, 2) + '\n');
  const openai = PAIRS.map((p, i) => ({
    messages: [
      ...(i % 2 === 0 ? [{ role: 'system', content: SYSTEM }] : []),
      { role: 'user', content: userText(p) },
      { role: 'assistant', content: p.a },
      ...(i === 2 ? [{ role: 'user', content: 'Will I get tracking?' }, { role: 'assistant', content: 'Hi Priya,\n\nYes, a tracking link is on its way by email.\n\nKind regards,\nSam' }] : []),
    ],
  }));
  w('openai.jsonl', openai.map((r) => JSON.stringify(r)).join('\n') + '\n');
  w('qa.csv', '\uFEFF' + table(','));
  w('qa-semicolon.csv', table(';'));
  w('qa.tsv', table('\t', false));
  w('qa-utf16.csv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(table(','), 'utf16le')]));
  w('qa-cp1252.csv', iconv.encode(table(';'), 'win1252'));
  w('qa.txt', PAIRS.map((p) => `Q: ${userText(p)}\nA: ${p.a}\n`).join('\n'));
  await writeXlsx(path.join(outDir, 'qa.xlsx'), [
    { name: 'Notes', rows: [] },
    { name: 'Answers', rows: [['Customer question', 'Details', 'Approved answer', 'System prompt'], ...PAIRS.map((p, i) => [p.q, p.ctx ?? null, p.a, i === 0 ? SYSTEM : null])] },
  ]);

  // Broken workbook for the tests: an empty answer, a number as the question, a blank row, mojibake.
  await writeXlsx(path.join(fixDir, 'broken.xlsx'), [
    {
      name: 'Answers',
      rows: [
        ['Question', 'Response'],
        [PAIRS[0]!.q, PAIRS[0]!.a],
        [PAIRS[1]!.q, ''],
        [null, null],
        [12345, 'A number is fine as text.'],
        ['Where is my cafÃ© order?', 'On its way.'],
        [PAIRS[2]!.q, PAIRS[2]!.a],
      ],
    },
  ]);
  console.log('samples written');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
