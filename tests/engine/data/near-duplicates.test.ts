/**
 * Near duplicates (issue #13.1): rewordings are kept by default and reported as warnings that name
 * both rows; they are left out only when asked (engine option, `--drop-near-duplicates`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { registerDataCommands } from '../../../src/cli/commands/data.js';
import { checkDataFile, importDataFile } from '../../../src/engine/data/index.js';
import { expectCountsAddUp, tempDir } from './helpers.js';

const answer =
  'Thank you for your message. We are sorry that your parcel is late; the courier has told us it will arrive on Monday, and we have refunded the delivery charge to your card. If it does not arrive by Tuesday, please reply and we will send a replacement straight away.';
const rows = [
  { instruction: 'Where is my parcel? It is late.', output: answer },
  { instruction: 'How do I reset my password?', output: 'Choose "Forgot password" on the sign-in page and follow the link we email you.' },
  // Line 3: the same question in other words with the same answer (ShareGPT-style paraphrase).
  { instruction: 'where is my parcel?? it is late', output: answer.replace('Monday', 'Tuesday morning') },
  // Line 4: an exact copy of line 2.
  { instruction: 'How do I reset my password?', output: 'Choose "Forgot password" on the sign-in page and follow the link we email you.' },
];

function dataFile(): string {
  const file = path.join(tempDir(), 'paraphrases.jsonl');
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

async function cli(args: string[]): Promise<string> {
  let out = '';
  const program = new Command('attune').exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: () => undefined });
  registerDataCommands(program);
  await program.parseAsync(args, { from: 'user' });
  return out;
}

afterEach(() => {
  process.exitCode = undefined;
});

describe('near duplicates are kept unless asked', () => {
  it('default: exact copies are left out, rewordings kept with a warning naming both lines', async () => {
    const file = dataFile();
    const r = await checkDataFile(file);
    expectCountsAddUp(r);
    expect(r.counts).toMatchObject({ rowsRead: 4, imported: 3, rejected: 1, exactDuplicates: 1, nearDuplicates: 1, warnings: 1 });
    expect(r.counts.rejectedBy).toEqual({ 'data.duplicate': 1 });
    const near = r.problems.find((p) => p.code === 'data.near-duplicate')!;
    expect(near).toMatchObject({ line: 3, rejected: false, severity: 'warning' });
    expect(near.message).toMatch(/^Line 3: .*almost the same as Line 1 \(\d+% alike\)\. Both are kept/);
  });

  it('dropNearDuplicates leaves them out, and the import writes one example fewer', async () => {
    const file = dataFile();
    const r = await checkDataFile(file, { dropNearDuplicates: true });
    expectCountsAddUp(r);
    expect(r.counts).toMatchObject({ imported: 2, rejected: 2, nearDuplicates: 1 });
    expect(r.counts.rejectedBy['data.near-duplicate-dropped']).toBe(1);
    expect(r.problems.find((p) => p.line === 3)!.message).toMatch(/^Line 3: .*almost the same as Line 1 .*left out because you asked/);
    const out = path.join(tempDir(), 'out.jsonl');
    const kept = await importDataFile(file, { out });
    expect(readFileSync(kept.out!, 'utf8').trim().split('\n')).toHaveLength(3);
    const dropped = await importDataFile(file, { out, force: true, dropNearDuplicates: true });
    expect(readFileSync(dropped.out!, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('CLI: the report says near duplicates were kept; --drop-near-duplicates leaves them out', async () => {
    const file = dataFile();
    const kept = await cli(['data', 'check', file]);
    expect(kept).toMatch(/Imported:\s+3/);
    expect(kept).toMatch(/Left out:\s+1 \(1 exact duplicates\)/);
    expect(kept).toMatch(/Near duplicates: 1 kept/);
    expect(kept).toMatch(/! Line 3: .*almost the same as Line 1/);
    const dropped = await cli(['data', 'import', file, '--out', path.join(tempDir(), 'x.jsonl'), '--drop-near-duplicates']);
    expect(dropped).toMatch(/Imported:\s+2/);
    expect(dropped).toMatch(/Left out:\s+2 \(1 exact duplicates, 1 near duplicates\)/);
  });
});
