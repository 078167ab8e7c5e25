import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { registerDataCommands } from '../../../src/cli/commands/data.js';
import { FIXTURES, FORMATS, ROOT, SAMPLES, STORIES_PATH, tempDir } from './helpers.js';

async function run(args: string[]): Promise<{ out: string; err: string; error?: Error & { code?: string; exitCode?: number } }> {
  let out = '';
  let err = '';
  const program = new Command('attune').exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  registerDataCommands(program);
  try {
    await program.parseAsync(args, { from: 'user' });
    return { out, err };
  } catch (e) {
    return { out, err, error: e as Error };
  }
}

afterEach(() => {
  process.exitCode = undefined;
});

describe('attune data check / import (commander program)', () => {
  it('prints a readable report and succeeds when examples import', async () => {
    const r = await run(['data', 'check', path.join(FORMATS, 'qa.csv')]);
    expect(r.error).toBeUndefined();
    expect(r.out).toContain('Read as:        table (comma-separated, UTF-8)');
    expect(r.out).toMatch(/Rows read:\s+8/);
    expect(r.out).toMatch(/Imported:\s+8/);
    expect(r.out).toMatch(/Split:\s+7 for training, 1 held out/);
    expect(r.out).toContain('Training time:');
  });

  it('names every problem with its row', async () => {
    const r = await run(['data', 'check', path.join(FIXTURES, 'broken.csv')]);
    expect(r.error).toBeUndefined();
    expect(r.out).toContain('✗ Row 3: the "Answer" column is empty');
    expect(r.out).toMatch(/Left out:\s+4 \(1 exact duplicates, 3 with problems\)/);
  });

  it('--json prints one machine-readable report', async () => {
    const r = await run(['data', 'check', path.join(FIXTURES, 'broken.jsonl'), '--json']);
    const report = JSON.parse(r.out);
    expect(report.counts.rowsRead).toBe(16);
    expect(report.problems.length).toBeGreaterThan(10);
    expect(process.exitCode).toBeUndefined();
  });

  it('--map, --format and --model with --max-length', async () => {
    const r = await run([
      'data', 'check', path.join(FORMATS, 'qa.xlsx'), '--format', 'xlsx',
      '--map', 'instruction="Customer question",response=C,context=Details', '--model', STORIES_PATH, '--max-length', '300', '--json',
    ]);
    const report = JSON.parse(r.out);
    expect(report.stats.tokenCounting).toBe('model');
    expect(report.counts.imported + report.counts.rejected).toBe(8);
    expect(report.counts.imported).toBeGreaterThan(0);
    expect(report.detected.how).toBe('chosen');
  });

  it('import writes the file; exit is non-zero with a plain reason when nothing imports', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'data.jsonl');
    const ok = await run(['data', 'import', path.join(FORMATS, 'dolly.jsonl'), '--out', out]);
    expect(ok.error).toBeUndefined();
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(8);
    expect(ok.out).toContain(`Written to:     ${out}`);

    const again = await run(['data', 'import', path.join(FORMATS, 'dolly.jsonl'), '--out', out]);
    expect(again.error).toMatchObject({ code: 'data.output-exists' });
    expect(again.error!.message).toContain('--force');

    const none = await run(['data', 'check', path.join(FIXTURES, 'truncated.jsonl'), '--format', 'sharegpt']);
    expect(none.error).toMatchObject({ code: 'data.no-examples' });
    expect(none.error!.message).toMatch(/^Nothing could be imported from .*truncated\.jsonl: all 2 rows have problems/);

    const json = await run(['data', 'check', path.join(FIXTURES, 'empty.csv'), '--json']);
    expect(JSON.parse(json.out).error.code).toBe('data.file-empty');
    expect(process.exitCode).toBe(1);
  });

  it('bad options are refused in plain words', async () => {
    const bad = await run(['data', 'check', path.join(FORMATS, 'qa.csv'), '--map', 'nonsense']);
    expect(bad.error).toMatchObject({ code: 'data.map-invalid' });
    const fmt = await run(['data', 'check', path.join(FORMATS, 'qa.csv'), '--format', 'word']);
    expect(fmt.error).toBeDefined();
    expect(fmt.err).toContain("Allowed choices are auto, alpaca");
    const miss = await run(['data', 'import', path.join(FORMATS, 'qa.csv')]);
    expect(miss.err).toContain("required option '--out <file.jsonl>'");
  });
});

describe('through a real process (npx tsx)', () => {
  const exec = promisify(execFile);
  const cli = path.join(ROOT, 'tests/engine/data/tools/data-cli.ts');
  const tsx = path.join(ROOT, 'node_modules/.bin/tsx');

  it('exit 0 and a report; exit 1 and one plain line', async () => {
    const ok = await exec(tsx, [cli, 'data', 'check', path.join(SAMPLES, 'customer-service.jsonl')], { cwd: ROOT });
    expect(ok.stdout).toMatch(/Imported:\s+3\d\d/);
    const dir = tempDir();
    const out = path.join(dir, 'x.jsonl');
    const bad = await exec(tsx, [cli, 'data', 'import', path.join(FIXTURES, 'unrecognised.csv'), '--out', out], { cwd: ROOT }).catch((e) => e as { code: number; stderr: string; stdout: string });
    expect((bad as { code: number }).code).toBe(1);
    expect((bad as { stderr: string }).stderr.trim().split('\n')).toHaveLength(1);
    expect((bad as { stderr: string }).stderr).toMatch(/^attune: Could not tell which column/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});
