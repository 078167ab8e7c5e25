/**
 * One error catalogue: every code that source passes to AttuneError (or renders from the
 * catalogue) exists in src/shared/diagnostics.ts, and the CLI and the app show an error the same
 * way, WeightsError included.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeError } from '../../src/cli/output.js';
import { readSafetensors } from '../../src/engine/weights/safetensors.js';
import { WeightsError } from '../../src/engine/weights/errors.js';
import { dispatch } from '../../src/main/dispatch.js';
import type { Handlers } from '../../src/main/handlers.js';
import { DIAGNOSTICS } from '../../src/shared/diagnostics.js';
import { AttuneError, isAttuneError, toUserError } from '../../src/shared/errors.js';

const SRC = path.resolve(import.meta.dirname, '../../src');

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sourceFiles(p)));
    else if (/\.tsx?$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Literal codes passed to the catalogue's users: AttuneError, its kin and the render functions. */
const USES = /\b(?:new AttuneError|AttuneError\.rendered|new WeightsError|formatDiagnostic|userError|diagnostic|fatal|problem)\(\s*'([^']+)'|DIAGNOSTICS\[\s*'([^']+)'\s*\]/g;

describe('the error catalogue', () => {
  it('every code used in src/**/*.ts(x) is in the catalogue', async () => {
    const used = new Map<string, string>();
    for (const file of await sourceFiles(SRC)) {
      const text = await readFile(file, 'utf8');
      for (const m of text.matchAll(USES)) {
        const code = m[1] ?? m[2]!;
        if (code.includes('<')) continue; // a doc comment's `<area>.<name>`
        used.set(code, `${path.relative(SRC, file)}:${text.slice(0, m.index).split('\n').length}`);
      }
    }
    const missing = [...used].filter(([code]) => !(code in DIAGNOSTICS)).map(([code, where]) => `${code} (${where})`);
    expect(missing).toEqual([]);
    // The scan sees the sites: well over a hundred codes in use.
    expect(used.size).toBeGreaterThan(100);
  });

  it('ids are <area>.<name>, and every error code a person can meet comes from an entry', () => {
    for (const [id, e] of Object.entries(DIAGNOSTICS)) {
      expect(id).toMatch(/^[a-z]+\.[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(e.errorCode).toMatch(/^[a-z][a-z0-9.-]*$/);
    }
  });

  it('an AttuneError renders its entry with the params, and carries the entry\'s error code', () => {
    const e = new AttuneError('project.exists', { name: 'Support' });
    expect(e).toMatchObject({ id: 'project.exists', code: 'project-exists', message: 'A project called "Support" already exists. Open it, or choose another name.' });
    expect(isAttuneError(e)).toBe(true);
  });
});

describe('one conversion for the CLI and the app', () => {
  async function truncatedWeights(): Promise<{ dir: string; file: string }> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'attune-diag-'));
    const file = path.join(dir, 'model.safetensors');
    await writeFile(file, new Uint8Array([1, 2, 3]));
    return { dir, file };
  }

  it('a WeightsError reaches the app as its plain message with its code, not as "internal"', async () => {
    const { dir, file } = await truncatedWeights();
    try {
      const thrown = await readSafetensors(file).then(() => undefined, (e: unknown) => e);
      expect(thrown).toBeInstanceOf(WeightsError);
      const expected = { code: 'weights.corrupt', message: 'model.safetensors: the file is only 3 bytes, too short for a safetensors header; the file is truncated or not a safetensors file' };
      expect(thrown).toMatchObject({ ...expected, file, field: undefined });

      // The app: a handler that reads the weights, through the IPC dispatch.
      const handlers = { 'app.info': () => readSafetensors(file) } as unknown as Handlers;
      const envelope = await dispatch(handlers, 'app.info', {});
      expect(envelope).toEqual({ ok: false, error: { ...expected, details: { file } } });

      // The CLI: the same code and words.
      expect(describeError(thrown)).toEqual(expected);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the CLI and the app agree on every kind of thrown value', () => {
    const cases: unknown[] = [
      new AttuneError('export.exists', { out: '/tmp/x' }, { file: '/tmp/x' }),
      new WeightsError('weights.unsupported', '/m/a.gguf', 'version', 'this is a GGUF version 1 file'),
      Object.assign(new Error('no such file'), { code: 'ENOENT', path: '/nowhere/x.json' }),
      new TypeError('x is not a function'),
      'a string',
    ];
    for (const c of cases) {
      const app = toUserError(c);
      expect(describeError(c)).toEqual({ code: app.code, message: app.message });
    }
    expect(toUserError(cases[3]).code).toBe('internal');
    expect(toUserError(cases[3]).message).toBe('Something went wrong inside Attune: x is not a function');
    expect(toUserError(cases[2])).toEqual({ code: 'file-not-found', message: 'A file was not found: /nowhere/x.json' });
  });
});
