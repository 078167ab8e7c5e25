/**
 * The handlers under Node with the real engine on the tiny model (stories260K). Where the engine
 * does not export a function yet, the tests that need it are skipped and say which.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingEngineFunctions } from '../../src/main/engine-facade.js';
import { createTestApp, TINY_MODEL, type TestApp } from './harness.js';

const missing = missingEngineFunctions();
const dataReady = !['checkDataFile', 'importDataFile', 'readNormalizedJsonl', 'splitExamples'].some((n) => missing.includes(n));
const exportReady = !missing.includes('exportModel');
if (missing.length) console.warn(`engine functions not exported yet (tests skipped): ${missing.join(', ')}`);

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'support.jsonl');
const b64 = async (f: string) => (await readFile(f)).toString('base64');

describe('handlers', () => {
  let app: TestApp;
  let h: TestApp['handlers'];
  beforeAll(async () => {
    app = await createTestApp();
    h = app.handlers;
  });
  afterAll(() => app.close());

  it('creates, lists and opens projects, remembering recent ones', async () => {
    await h['projects.create']({ name: 'Support' });
    await h['projects.create']({ name: 'Other' });
    await expect(h['projects.create']({ name: 'Support' })).rejects.toMatchObject({ code: 'project-exists' });
    expect((await h['projects.list']({})).map((p) => p.name).sort()).toEqual(['Other', 'Support']);
    await h['projects.open']({ name: 'Support' });
    expect((await h['settings.get']({})).recentProjects).toEqual(['Support', 'Other']);
    await expect(h['projects.open']({ name: 'Nope' })).rejects.toMatchObject({ code: 'project-missing' });
  });

  it('copies a file into the project untouched, from a dialog or dropped bytes', async () => {
    app.dialogAnswers.push(null);
    await expect(h['data.add']({ project: 'Support', from: { kind: 'dialog' } })).resolves.toBeNull();
    app.dialogAnswers.push(FIXTURE);
    const a = await h['data.add']({ project: 'Support', from: { kind: 'dialog' } });
    const b = await h['data.add']({ project: 'Support', from: { kind: 'bytes', name: '../../support.jsonl', base64: await b64(FIXTURE) } });
    expect(a).toMatchObject({ source: 'support.jsonl' });
    expect(b).toMatchObject({ source: 'support (2).jsonl' });
    const original = path.join(app.workspace, 'projects/Support/data/original/support (2).jsonl');
    expect(await readFile(original, 'utf8')).toBe(await readFile(FIXTURE, 'utf8'));
  });

  it('refuses work on a file that is not in the project', async () => {
    await expect(h['data.check']({ project: 'Support', source: 'nothere.jsonl' })).rejects.toMatchObject({ code: 'data-missing' });
  });

  it.skipIf(!dataReady)('checks a file, lets a person fix a row, imports and splits it', async () => {
    const report = await h['data.check']({ project: 'Support', source: 'support.jsonl' });
    expect(report).toMatchObject({ rowsRead: 11, accepted: 10, rejected: 1 });
    const bad = report.problems.find((p) => p.rejected)!;
    expect(bad.line).toBe(4);
    expect(bad.rowText).toBe('{"instruction": "Broken row with no answer"');
    expect(app.events.some((e) => e.name === 'data.progress')).toBe(true);

    const fixed = await h['data.fixRow']({ project: 'Support', source: 'support.jsonl', line: 4, text: '{"instruction": "Do you open on Sundays?", "output": "No, we are closed on Sundays."}' });
    expect(fixed).toMatchObject({ rowsRead: 11, accepted: 11, rejected: 0 });
    // The person's original stays as it was.
    expect(await readFile(path.join(app.workspace, 'projects/Support/data/original/support.jsonl'), 'utf8')).toBe(await readFile(FIXTURE, 'utf8'));

    const imported = await h['data.import']({ project: 'Support', source: 'support.jsonl', valFraction: 0.2, seed: 42 });
    expect(imported.train + imported.val).toBe(11);
    expect(imported.val).toBe(2);
    expect((await h['projects.open']({ name: 'Support' })).data).toEqual({ source: 'support.jsonl', train: 9, val: 2 });

    const page = await h['data.examples']({ project: 'Support', split: 'train', offset: 0, limit: 100 });
    expect(page.total).toBe(9);
    const first = page.examples[0]!;
    const edited = { messages: first.messages.map((m) => (m.role === 'assistant' ? { ...m, content: 'Edited answer.' } : m)) };
    const saved = await h['data.saveExample']({ project: 'Support', split: 'train', index: 0, example: edited });
    expect(saved.examples[0]!.messages.at(-1)!.content).toBe('Edited answer.');
    const val = await h['data.examples']({ project: 'Support', split: 'val', offset: 0, limit: 10 });
    await h['data.saveExample']({ project: 'Support', split: 'val', index: 0, example: null });
    expect((await h['data.examples']({ project: 'Support', split: 'val', offset: 0, limit: 10 })).total + (await h['data.examples']({ project: 'Support', split: 'train', offset: 0, limit: 100 })).total).toBe(10);
    expect(val.total).toBe(2);
  });

  it('adds a model folder through the dialog and describes it', async () => {
    expect(await h['models.list']({})).toEqual([]);
    app.dialogAnswers.push(path.dirname(TINY_MODEL));
    await expect(h['models.add']({ kind: 'folder' })).rejects.toMatchObject({ code: 'model-folder-invalid' });
    app.dialogAnswers.push(TINY_MODEL);
    const m = (await h['models.add']({ kind: 'folder' }))!;
    expect(m).toMatchObject({ name: 'stories260K-hf', origin: 'added', kind: 'folder', architecture: expect.any(String), contextLength: 512, vocabSize: 512, hasChatTemplate: expect.any(Boolean) });
    expect(m.parameters).toBeGreaterThan(200_000);
    expect(m.fit?.verdict).toBe('fits');
    expect(m.fit?.explanation).toMatch(/GB/);
    expect((await h['models.list']({})).map((x) => x.path)).toEqual([TINY_MODEL]);
    await expect(h['models.inspect']({ path: '/etc' })).rejects.toMatchObject({ code: 'model-unknown' });
  });

  it('says which device work runs on, and why', async () => {
    const d = await h['models.devices']({});
    expect(d.chosen).toBe('cpu');
    expect(d.why.length).toBeGreaterThan(5);
    expect(d.available.some((x) => x.device === 'cpu' && x.ok)).toBe(true);
  });

  it('streams an answer from the base model', async () => {
    const { sessionId, hasAdapter } = await h['chat.open']({ project: 'Support', modelPath: TINY_MODEL });
    expect(hasAdapter).toBe(false);
    const sampling = { maxTokens: 12, temperature: 0, topP: 1, topK: 0, seed: 1 };
    await expect(h['chat.generate']({ sessionId, streamId: 's0', which: 'tuned', messages: [{ role: 'user', content: 'Hi' }], sampling })).rejects.toMatchObject({ code: 'chat-no-adapter' });
    const r = await h['chat.generate']({ sessionId, streamId: 's1', which: 'base', messages: [{ role: 'user', content: 'Once upon a time' }], sampling });
    const streamed = app.events.filter((e) => e.name === 'chat.token' && (e.payload as { streamId: string }).streamId === 's1').map((e) => (e.payload as { delta: string }).delta);
    expect(r.tokens).toBeGreaterThan(0);
    expect(streamed.length).toBeGreaterThan(0);
    expect(streamed.join('')).toBe(r.text);
    expect(await h['chat.close']({ sessionId })).toEqual({ closed: true });
    await expect(h['chat.generate']({ sessionId, streamId: 's2', which: 'base', messages: [{ role: 'user', content: 'x' }], sampling })).rejects.toMatchObject({ code: 'chat-closed' });
  });

  it('refuses to tune without imported data or with an unknown model', async () => {
    await expect(h['tune.start']({ project: 'Other', modelPath: TINY_MODEL, preset: 'quick' })).rejects.toMatchObject({ code: 'data-not-imported' });
    await expect(h['tune.start']({ project: 'Other', modelPath: '/nowhere', preset: 'quick' })).rejects.toMatchObject({ code: 'model-unknown' });
  });

  it.skipIf(!dataReady)(
    'tunes the tiny model in a worker process, then chats with it side by side',
    async () => {
      const states: string[] = [];
      const l = (name: string, p: unknown) => name === 'tune.state' && states.push((p as { state: string }).state);
      app.listeners.add(l);
      const run = await h['tune.start']({ project: 'Support', modelPath: TINY_MODEL, preset: 'quick', advanced: { maxLength: 128, batchSize: 2, epochs: 2 } });
      expect(run.state).toBe('running');
      await expect(h['tune.start']({ project: 'Support', modelPath: TINY_MODEL, preset: 'quick' })).rejects.toMatchObject({ code: 'tune-busy' });
      while (!states.some((s) => ['done', 'failed', 'crashed'].includes(s))) await new Promise((r) => setTimeout(r, 100));
      app.listeners.delete(l);
      const [summary] = await h['tune.runs']({ project: 'Support' });
      expect(summary, summary?.message).toMatchObject({ runId: run.runId, state: 'done', exitReason: 'done', device: 'cpu' });
      const progress = app.events.filter((e) => e.name === 'tune.progress').map((e) => (e.payload as { event: { type: string } }).event.type);
      expect(progress).toContain('step');
      expect(progress).toContain('done');
      const metrics = await h['tune.metrics']({ project: 'Support', runId: run.runId });
      expect(metrics.filter((m) => m.loss !== undefined).length).toBeGreaterThan(1);

      const { sessionId, hasAdapter } = await h['chat.open']({ project: 'Support', modelPath: TINY_MODEL, runId: run.runId });
      expect(hasAdapter).toBe(true);
      const sampling = { maxTokens: 8, temperature: 0, topP: 1, topK: 0, seed: 1 };
      const messages = [{ role: 'user' as const, content: 'Where is my order?' }];
      const [tuned, base] = await Promise.all([
        h['chat.generate']({ sessionId, streamId: 't1', which: 'tuned', messages, sampling }),
        h['chat.generate']({ sessionId, streamId: 'b1', which: 'base', messages, sampling }),
      ]);
      expect(tuned.tokens).toBeGreaterThan(0);
      expect(base.tokens).toBeGreaterThan(0);
      await h['chat.close']({ sessionId });

      if (exportReady) {
        const ex = await h['export.run']({ project: 'Support', runId: run.runId, modelPath: TINY_MODEL, format: 'peft' });
        expect(ex.files.length).toBeGreaterThan(0);
        await h['export.reveal']({ project: 'Support', out: ex.out });
        expect(app.revealed).toEqual([ex.out]);
      } else {
        await expect(h['export.run']({ project: 'Support', runId: run.runId, modelPath: TINY_MODEL, format: 'peft' })).rejects.toMatchObject({ code: 'engine-missing' });
      }
    },
    120_000,
  );

  it('refuses to show a folder outside the project exports', async () => {
    await expect(h['export.reveal']({ project: 'Support', out: '/etc' })).rejects.toMatchObject({ code: 'export-missing' });
    expect((await h['export.choices']({})).map((c) => c.format)).toEqual(['peft', 'merged', 'gguf-f16', 'gguf-q8_0', 'gguf-q4']);
  });
});
