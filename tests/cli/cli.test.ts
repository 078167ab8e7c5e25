/**
 * The CLI as a person runs it (`node bin/attune.mjs ...`, what `npx attune` runs): inspect and
 * chat on the real stories260K model, --json output, and one-line errors with non-zero exits.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { STORIES260K_HF_DIR } from '../helpers/tiny-model.js';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '../..');
const cache = mkdtempSync(path.join(os.tmpdir(), 'attune-cli-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));
const fixture = JSON.parse(readFileSync(path.join(repoRoot, 'tests/helpers/fixtures/stories260K-greedy.json'), 'utf8'));

async function attune(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/attune.mjs', ...args], { cwd: repoRoot, env: { ...process.env, ATTUNE_CACHE_DIR: cache } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('attune CLI', () => {
  it('models inspect --json describes the model', async () => {
    const r = await attune(['models', 'inspect', STORIES260K_HF_DIR, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ architecture: 'llama', parameters: 260_032, dtype: 'F32', contextLength: 512, vocabSize: 512, hasChatTemplate: true, stopTokens: ['</s>'] });
    expect(j.memory.tuningBytes).toBeGreaterThan(j.memory.inferenceBytes);
    expect(j.untrainedTokens).toEqual([{ id: 2, token: '</s>', reason: 'clump', table: 'embedding' }]);
  });

  it('models inspect prints a readable summary', async () => {
    const r = await attune(['models', 'inspect', STORIES260K_HF_DIR]);
    expect(r.stdout).toMatch(/Architecture:\s+llama, 5 layers/);
    expect(r.stdout).toMatch(/Parameters:\s+260\.0K/);
    expect(r.stdout).toMatch(/Untrained:\s+<\/s> — this model never learned this token/);
  });

  it('chat --json with temperature 0 is greedy and deterministic', async () => {
    const args = ['chat', '--model', STORIES260K_HF_DIR, '--prompt', 'Tell me a story.', '--max-tokens', '12', '--json'];
    const a = JSON.parse((await attune(args)).stdout);
    const b = JSON.parse((await attune(args)).stdout);
    expect(Object.keys(a).sort()).toEqual(['promptTokens', 'stoppedBy', 'text', 'tokens', 'tokensPerSecond']);
    expect(a.tokens).toHaveLength(12);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.text.length).toBeGreaterThan(10);
    expect(a.promptTokens).toBeGreaterThan(5);
  });

  it('chat streams text to stdout', async () => {
    const r = await attune(['chat', '--model', STORIES260K_HF_DIR, '--prompt', fixture.prompt, '--max-tokens', '8']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().length).toBeGreaterThan(10);
  });

  for (const [label, args, message] of [
    ['a missing model', ['chat', '--model', '/nowhere', '--prompt', 'hi'], /\/nowhere does not exist/],
    ['a bad number', ['chat', '--model', STORIES260K_HF_DIR, '--prompt', 'hi', '--temperature', 'warm'], /--temperature needs a number/],
    ['a missing option', ['chat', '--prompt', 'hi'], /--model/],
    ['an unknown command', ['fly'], /unknown command/],
  ] as const) {
    it(`${label}: one plain line on stderr and a non-zero exit`, async () => {
      const r = await attune([...args]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    });
  }

  it('errors come as JSON with --json', async () => {
    const r = await attune(['models', 'inspect', '/nowhere', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.message).toMatch(/does not exist/);
  });
});

describe('attune devices', () => {
  it('lists the CPU as usable with its speed and explains each provider that is not', async () => {
    const r = await attune(['devices', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const cpu = j.devices.find((d: { device: string }) => d.device === 'cpu');
    expect(cpu.available).toBe(true);
    for (const d of j.devices.filter((x: { available: boolean }) => !x.available)) expect(d.reason).toMatch(/\w+ \w+/);
    expect(cpu.gflops).toBeGreaterThan(1);
    // The choice is a working provider, and a GPU only with its measured speed to show for it.
    const chosen = j.devices.find((d: { device: string }) => d.device === j.auto.device);
    expect(chosen.available).toBe(true);
    if (j.auto.device !== 'cpu') expect(chosen.gflops).toBeGreaterThan(cpu.gflops);
    expect(j.auto.reason.length).toBeGreaterThan(10);
  });
});
