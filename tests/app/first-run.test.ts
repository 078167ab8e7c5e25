import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dispatch } from '../../src/main/dispatch.js';
import { createFirstRun, samplePreview, suggestedFolder } from '../../src/main/services/first-run.js';
import { memorySettings } from '../../src/main/settings.js';
import type { Settings } from '../../src/shared/contract.js';
import { createTestApp, ROOT, type TestApp } from './harness.js';

const RESOURCES = path.join(ROOT, 'resources');
let tmp: string;
let docs: string;
const answers: (string | null)[] = [];

function firstRun(settings = memorySettings({ workspace: path.join(tmp, 'old-default') })) {
  return { settings, fr: createFirstRun({ settings, resourcesDir: RESOURCES, documentsDir: docs, openFolder: async () => answers.shift() ?? null }) };
}

beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'attune-first-run-'));
  docs = path.join(tmp, 'Documents');
  await mkdir(docs);
  answers.length = 0;
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('first run', () => {
  it('suggests Documents/Attune and shows the bundled sample', async () => {
    expect(suggestedFolder('/home/ann/Documents')).toBe(path.join('/home/ann/Documents', 'Attune'));
    expect(suggestedFolder(undefined, '/home/ann')).toBe(path.join('/home/ann', 'Documents', 'Attune'));
    const { fr } = firstRun();
    const s = await fr.status();
    expect(s.needed).toBe(true);
    expect(s.suggestedFolder).toBe(path.join(docs, 'Attune'));
    expect(s.chosenFolder).toBeUndefined();
    expect(s.sample?.examples).toBe(330);
    expect(s.sample?.preview).toHaveLength(3);
    for (const p of s.sample!.preview) {
      expect(p.question.length).toBeGreaterThan(10);
      expect(p.answer.length).toBeGreaterThan(10);
    }
    // Nothing is created before the person answers.
    expect(await readdir(docs)).toEqual([]);
  });

  it('makes the suggested folder the workspace, creates it, and is not needed again', async () => {
    const { fr, settings } = firstRun();
    const after = await fr.finish({ folder: 'suggested' });
    expect(after.workspace).toBe(path.join(docs, 'Attune'));
    expect(after.firstRunDone).toBe(true);
    expect((await readdir(path.join(docs, 'Attune'))).sort()).toEqual(['models', 'projects']);
    expect(settings.get().workspace).toBe(path.join(docs, 'Attune'));
    expect((await fr.status()).needed).toBe(false);
  });

  it('uses a folder chosen in the dialog; a cancelled dialog changes nothing; "chosen" without a choice is refused', async () => {
    const { fr } = firstRun();
    await expect(fr.finish({ folder: 'chosen' })).rejects.toMatchObject({ code: 'first-run.no-folder-chosen', message: 'Choose a folder first, or use the suggested one.' });
    answers.push(null);
    expect(await fr.chooseFolder()).toBeNull();
    expect((await fr.status()).chosenFolder).toBeUndefined();
    const mine = path.join(tmp, 'My projects');
    answers.push(mine);
    expect(await fr.chooseFolder()).toBe(mine);
    expect((await fr.status()).chosenFolder).toBe(mine);
    expect((await fr.finish({ folder: 'chosen' })).workspace).toBe(mine);
    expect((await readdir(mine)).sort()).toEqual(['models', 'projects']);
  });

  it('says which folder cannot be used, in plain words', async () => {
    // Documents is a file here, so Documents/Attune cannot be made.
    await rm(docs, { recursive: true });
    await writeFile(docs, 'not a folder');
    const { fr, settings } = firstRun();
    const err = await fr.finish({ folder: 'suggested' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'first-run.folder-unusable', details: { file: path.join(docs, 'Attune') } });
    expect((err as Error).message).toMatch(new RegExp(`^Attune cannot keep projects in ${path.join(docs, 'Attune').replace(/[\\/.]/g, '\\$&')}: .+\\. Choose another folder\\.$`));
    expect(settings.get().firstRunDone).toBeUndefined();
  });

  it('is not shown to someone who used Attune before', async () => {
    const recent = memorySettings({ workspace: path.join(tmp, 'ws'), recentProjects: ['Support'] } as Partial<Settings>);
    expect((await firstRun(recent).fr.status()).needed).toBe(false);
    const ws = path.join(tmp, 'ws2');
    await mkdir(path.join(ws, 'projects', 'Support'), { recursive: true });
    await writeFile(path.join(ws, 'projects', 'Support', 'project.json'), JSON.stringify({ name: 'Support', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' }));
    const withProject = memorySettings({ workspace: ws });
    expect((await firstRun(withProject).fr.status()).needed).toBe(false);
  });

  it('reads no sample where the installation has none', async () => {
    expect(await samplePreview(path.join(tmp, 'nowhere'))).toBeUndefined();
  });

  describe('through the contract', () => {
    let app: TestApp;
    beforeEach(async () => {
      app = await createTestApp({ firstRun: true, documentsDir: docs });
    });
    afterEach(async () => app.close());

    it('answers status, and finish takes only "suggested" or "chosen", never a path from the page', async () => {
      const status = await dispatch(app.handlers, 'welcome.status', {});
      expect(status).toMatchObject({ ok: true, value: { needed: true, suggestedFolder: path.join(docs, 'Attune') } });
      const bad = await dispatch(app.handlers, 'welcome.finish', { folder: '/etc' });
      expect(bad).toMatchObject({ ok: false, error: { code: 'bad-request' } });
      const ok = await dispatch(app.handlers, 'welcome.finish', { folder: 'suggested' });
      expect(ok).toMatchObject({ ok: true, value: { workspace: path.join(docs, 'Attune'), firstRunDone: true } });
      const created = await dispatch(app.handlers, 'projects.create', { name: 'Customer service sample' });
      expect(created.ok).toBe(true);
      expect(await readdir(path.join(docs, 'Attune', 'projects'))).toEqual(['Customer service sample']);
    });
  });
});
