/**
 * `attune eval --data <file>` evaluates that file's examples, all of them or `--n` (issue #13.5);
 * without a file, the run's own held-out split stays the default.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reviewAdapter } from '../../../src/engine/eval/review.js';
import { splitExamples, readNormalizedJsonl } from '../../../src/engine/data/index.js';
import { runTuning } from '../../../src/engine/train/tune.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { HELD_OUT_NAMES, instructionExamples, TRAIN_NAMES, writeInstructionJsonl } from '../../helpers/instruction-data.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-evaldata-'));
const modelDir = path.join(tmp, 'model');
const repoRoot = path.resolve(import.meta.dirname, '../../..');
const twelve = path.join(tmp, 'twelve.jsonl');
let adapterDir = '';
let runDir = '';

beforeAll(async () => {
  process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
  writeTinyModel(modelDir, 'llama', { seed: 4, hidden: 32, layers: 2 });
  const data = path.join(tmp, 'train.jsonl');
  writeInstructionJsonl(data, TRAIN_NAMES.slice(0, 4));
  const run = await runTuning({ model: modelDir, data, out: path.join(tmp, 'run'), rank: 4, batchSize: 4, maxSteps: 2, trainTokens: 'none', threads: 1 });
  adapterDir = run.adapterDir;
  runDir = run.runDir;
  // A 12-example file of questions the run never saw.
  writeFileSync(twelve, instructionExamples(HELD_OUT_NAMES.slice(0, 3), ['ball', 'cat', 'dog', 'tree']).map((e) => JSON.stringify(e)).join('\n') + '\n');
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('eval with a file of examples', () => {
  it('evaluates every example of the file', async () => {
    const r = await reviewAdapter({ modelPath: modelDir, adapterDir, data: twelve, maxTokens: 3, threads: 1 });
    expect(r).toMatchObject({ heldOutExamples: 12, examplesFrom: 'file', dataFile: twelve });
    expect(r.samples).toHaveLength(12);
    expect(r.samples.map((s) => s.expected)).toContain('Dear Jane, the tree is here. Have a nice day!');
    expect(Number.isFinite(r.base.loss) && Number.isFinite(r.tuned.loss)).toBe(true);
  }, 120_000);

  it('--n takes the first n of them', async () => {
    const r = await reviewAdapter({ modelPath: modelDir, adapterDir, data: twelve, n: 5, maxTokens: 3, threads: 1 });
    expect(r.heldOutExamples).toBe(5);
    expect(r.samples.map((s) => s.expected)).toEqual(instructionExamples(HELD_OUT_NAMES.slice(0, 3), ['ball', 'cat', 'dog', 'tree']).slice(0, 5).map((e) => e.messages[1]!.content));
  }, 120_000);

  it("without a file, the run's own held-out split is the default", async () => {
    const examples = await readNormalizedJsonl(path.join(runDir, 'data.jsonl'));
    const { validation } = splitExamples(examples, { valFraction: 0.1, seed: 42 });
    const r = await reviewAdapter({ modelPath: modelDir, adapterDir, n: 2, maxTokens: 3, threads: 1 });
    expect(r).toMatchObject({ heldOutExamples: validation.length, examplesFrom: 'held-out' });
    expect(r.samples).toHaveLength(2);
    expect(r.samples.map((s) => s.expected)).toEqual(validation.slice(0, 2).map((e) => e.messages.at(-1)!.content));
  }, 120_000);

  it('the CLI says where the examples came from', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['bin/attune.mjs', 'eval', '--model', modelDir, '--adapter', adapterDir, '--data', twelve, '--n', '3', '--max-tokens', '2'],
      { cwd: repoRoot, env: { ...process.env, ATTUNE_CACHE_DIR: path.join(tmp, 'cache') } },
    );
    expect(stdout).toContain(`Examples from ${twelve}: 3`);
    expect(stdout.match(/^--- \d+\./gm)).toHaveLength(3);
  }, 120_000);
});
