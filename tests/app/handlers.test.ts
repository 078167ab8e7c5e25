/**
 * The handlers under Node with the real engine on the tiny model (stories260K).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, TINY_MODEL, type TestApp } from './harness.js';


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

  it('checks a file, lets a person fix a row, imports and splits it', async () => {
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
    // stories260K never trained its end-of-text row: the Model step says so, tuning teaches it.
    expect(m.stopTokens).toContain('</s>');
    expect(m.untrainedTokens?.map((t) => t.token)).toEqual(['</s>']);
    expect(m.untrainedTokens?.[0]).toMatchObject({ id: 2, table: 'embedding', reason: expect.stringMatching(/^(zero|norm|clump)$/) });
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

  it('lists the engine\'s named chat templates and refuses unknown ones', async () => {
    expect(await h['tune.templates']({})).toEqual(expect.arrayContaining(['alpaca', 'chatml', 'llama3']));
    await expect(h['tune.start']({ project: 'Support', modelPath: TINY_MODEL, preset: 'quick', advanced: { template: 'nosuch' } })).rejects.toMatchObject({ code: 'template-unknown' });
  });

  it('re-checks the examples with the model\'s tokenizer and max length before a run', async () => {
    const ok = await h['tune.check']({ project: 'Support', modelPath: TINY_MODEL, maxLength: 512 });
    expect(ok).toMatchObject({ examples: 10, maxLength: 512, contextLength: 512, tooLong: 0, otherRejected: 0 });
    expect(ok.longest).toBeGreaterThan(16);
    expect(ok.suggestedMaxLength).toBeUndefined();
    const short = Math.max(16, Math.floor(ok.longest / 2 / 16) * 16);
    const tight = await h['tune.check']({ project: 'Support', modelPath: TINY_MODEL, maxLength: short });
    expect(tight.tooLong).toBeGreaterThan(0);
    expect(tight.suggestedMaxLength).toBeGreaterThanOrEqual(ok.longest);
    expect(tight.suggestedMaxLength! % 64).toBe(0);
    expect(tight.tooLongAtSuggested).toBe(0);
    expect(tight.samples[0]!.message).toMatch(/tokens long, more than the \d+ tokens/);
    // Another template writes the examples out differently, so the counts change with it.
    const chatml = await h['tune.check']({ project: 'Support', modelPath: TINY_MODEL, maxLength: 512, template: 'chatml' });
    expect(chatml.longest).not.toBe(ok.longest);
  });

  let runId = '';
  it(
    'tunes the tiny model in a worker process with early stopping on, teaching the untrained </s>',
    async () => {
      const states: string[] = [];
      const l = (name: string, p: unknown) => name === 'tune.state' && states.push((p as { state: string }).state);
      app.listeners.add(l);
      const run = await h['tune.start']({ project: 'Support', modelPath: TINY_MODEL, preset: 'quick', advanced: { maxLength: 128, batchSize: 2, epochs: 2 } });
      runId = run.runId;
      expect(run.state).toBe('running');
      // 8 training examples, batch 2, 2 epochs: 8 steps, so a held-out check every round(8/10) = 1 step; patience 3.
      expect(run.validation).toEqual({ evalEvery: 1, patience: 3 });
      expect(run.template).toBe('model');
      await expect(h['tune.start']({ project: 'Support', modelPath: TINY_MODEL, preset: 'quick' })).rejects.toMatchObject({ code: 'tune-busy' });
      while (!states.some((s) => ['done', 'failed', 'crashed'].includes(s))) await new Promise((r) => setTimeout(r, 100));
      app.listeners.delete(l);
      const [summary] = await h['tune.runs']({ project: 'Support' });
      expect(summary, summary?.message).toMatchObject({ runId: run.runId, state: 'done', exitReason: 'done', device: 'cpu', trainedTokens: ['</s>'] });
      expect(['finished', 'early-stopping']).toContain(summary!.stoppedBecause);
      expect(summary!.bestStep).toBeGreaterThan(0);
      expect(summary!.bestValLoss).toBeGreaterThan(0);
      const events = app.events.filter((e) => e.name === 'tune.progress').map((e) => (e.payload as { event: { type: string } }).event);
      expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['step', 'eval', 'tokens', 'done']));
      const done = events.find((e) => e.type === 'done') as unknown as { bestStep: number; bestValLoss: number; stoppedBecause: string };
      expect(done).toMatchObject({ bestStep: summary!.bestStep, bestValLoss: summary!.bestValLoss, stoppedBecause: summary!.stoppedBecause });
      // One held-out check per step: the early-stopping interval the app chose reached the engine.
      const metrics = await h['tune.metrics']({ project: 'Support', runId: run.runId });
      const steps = metrics.filter((m) => m.loss !== undefined).length;
      expect(steps).toBeGreaterThan(1);
      expect(metrics.filter((m) => m.valLoss !== undefined).length).toBe(steps);

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
    },
    120_000,
  );

  it('stops early when the held-out loss stops improving, and says so', async () => {
    const states: string[] = [];
    const l = (name: string, p: unknown) => name === 'tune.state' && states.push((p as { state: string }).state);
    app.listeners.add(l);
    // A learning rate far too high makes the held-out loss get worse quickly.
    const run = await h['tune.start']({ project: 'Support', modelPath: TINY_MODEL, preset: 'quick', advanced: { maxLength: 128, batchSize: 2, epochs: 20, learningRate: 0.5, evalEvery: 1, patience: 1 } });
    expect(run.validation).toEqual({ evalEvery: 1, patience: 1 });
    while (!states.some((s) => ['done', 'failed', 'crashed'].includes(s))) await new Promise((r) => setTimeout(r, 100));
    app.listeners.delete(l);
    const s = (await h['tune.runs']({ project: 'Support' })).find((r) => r.runId === run.runId)!;
    expect(s, s.message).toMatchObject({ state: 'done', stoppedBecause: 'early-stopping' });
    expect(s.step).toBeLessThan(80);
    expect(s.bestStep).toBeLessThan(s.step!);
  }, 120_000);

  it('reviews the tuned run on its held-out examples: base vs tuned, scored, with progress', async () => {
    const report = await h['review.run']({ project: 'Support', runId, n: 2, maxTokens: 16 });
    expect(report.runId).toBe(runId);
    expect(report.heldOutExamples).toBeGreaterThan(0);
    expect(report.samples.length).toBe(Math.min(2, report.heldOutExamples));
    for (const x of report.samples) {
      expect(x.prompt.length).toBeGreaterThan(0);
      expect(x.expected.length).toBeGreaterThan(0);
      expect(x.baseScore).toBeGreaterThanOrEqual(0);
      expect(x.tunedScore).toBeLessThanOrEqual(1);
    }
    expect(report.base.perplexity).toBeCloseTo(Math.exp(report.base.loss), 3);
    expect(report.tuned.loss).toBeGreaterThan(0);
    expect(report.metric).toMatch(/ROUGE/);
    const progress = app.events.filter((e) => e.name === 'review.progress').map((e) => e.payload as { done: number; total: number });
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)!.done).toBe(progress.at(-1)!.total);
  }, 60_000);

  it('exports with progress, and asks before replacing an earlier export', async () => {
    const before = app.events.length;
    expect(await h['export.existing']({ project: 'Support', runId, format: 'peft' })).toMatchObject({ exists: false });
    const ex = await h['export.run']({ project: 'Support', runId, modelPath: TINY_MODEL, format: 'peft' });
    expect(ex.files.map((f) => f.name)).toEqual(expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors']));
    const fractions = app.events.slice(before).filter((e) => e.name === 'export.progress').map((e) => (e.payload as { fraction: number }).fraction);
    expect(fractions.length).toBeGreaterThan(1);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(fractions.at(-1)).toBe(1);
    expect(await h['export.existing']({ project: 'Support', runId, format: 'peft' })).toEqual({ exists: true, out: ex.out });
    await expect(h['export.run']({ project: 'Support', runId, modelPath: TINY_MODEL, format: 'peft' })).rejects.toMatchObject({ code: 'export-exists', message: expect.stringMatching(/Replace/) });
    const again = await h['export.run']({ project: 'Support', runId, modelPath: TINY_MODEL, format: 'peft', overwrite: true });
    expect(again.out).toBe(ex.out);
    await h['export.reveal']({ project: 'Support', out: ex.out });
    expect(app.revealed).toEqual([ex.out]);
  }, 60_000);

  it('starts the local OpenAI-compatible server only when asked, and stops it', async () => {
    expect(await h['serve.status']({})).toBeNull();
    const info = await h['serve.start']({ project: 'Support', runId });
    expect(info.url).toBe(`http://127.0.0.1:${info.port}/v1`);
    expect(await h['serve.status']({})).toEqual(info);
    const models = (await (await fetch(`${info.url}/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual([info.modelId]);
    const res = await fetch(`${info.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: info.modelId, messages: [{ role: 'user', content: 'Where is my order?' }], max_tokens: 8, temperature: 0 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    expect(typeof body.choices[0]!.message.content).toBe('string');
    expect(await h['serve.stop']({})).toEqual({ stopped: true });
    expect(await h['serve.status']({})).toBeNull();
    await expect(fetch(`${info.url}/models`)).rejects.toThrow();
    expect(app.events.filter((e) => e.name === 'serve.state').map((e) => e.payload && (e.payload as { port: number }).port)).toEqual([info.port, null]);
  }, 60_000);

  it('refuses to show a folder outside the project exports', async () => {
    await expect(h['export.reveal']({ project: 'Support', out: '/etc' })).rejects.toMatchObject({ code: 'export-missing' });
    expect((await h['export.choices']({})).map((c) => c.format)).toEqual(['peft', 'merged', 'gguf-f16', 'gguf-q8_0', 'gguf-q4']);
  });
});
