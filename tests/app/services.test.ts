/**
 * The main process's services under plain Node, with small fakes for the engine: the run plan
 * and the run state machine's steps, chat sessions and their queue, the memory-fit policy, the
 * model catalogue, row fixes, the local server and single-flight work.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EventName, Payload } from '../../src/shared/contract.js';
import { PRESETS } from '../../src/shared/presets.js';
import type { ChatHandle } from '../../src/main/engine.js';
import { ChatSessions } from '../../src/main/services/chat.js';
import { isInside } from '../../src/main/services/exports.js';
import { fitFor, ModelCatalog } from '../../src/main/services/models.js';
import { replaceLine } from '../../src/main/services/project-data.js';
import { LocalServer, serverModelId } from '../../src/main/services/server.js';
import { SingleFlight } from '../../src/main/services/single-flight.js';
import { endState, exitPatch, FALLBACK_TEMPLATE, planRun, recordPatch, resolveTemplate } from '../../src/main/services/tuning.js';

let tmp = '';
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'attune-services-'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe('planning a run', () => {
  const base = { preset: 'balanced' as const, preferredDevice: 'auto' as const, data: { seed: 9, train: 200 }, model: { hasChatTemplate: true }, templateNames: ['alpaca', 'chatml', 'llama3'] };

  it('takes the preset with the person’s changes, the Data step’s split seed, and about ten checks a run', () => {
    const p = planRun({ ...base, changes: { rank: 4, learningRate: 1e-3 } });
    expect(p.settings).toEqual({ ...PRESETS.balanced.values, rank: 4, learningRate: 1e-3, seed: 9 });
    expect(p.template).toBeUndefined(); // the model's own
    // 200 examples / batch 4 x 3 epochs = 150 steps -> every 15.
    expect(p.evalEvery).toBe(15);
    expect(planRun({ ...base, changes: { seed: 3, evalEvery: 7 } })).toMatchObject({ settings: { seed: 3 }, evalEvery: 7 });
  });

  it('uses the app’s device when the run’s is automatic', () => {
    expect(planRun({ ...base, preferredDevice: 'cpu' }).settings.device).toBe('cpu');
    expect(planRun({ ...base, preferredDevice: 'cpu', changes: { device: 'webgpu' } }).settings.device).toBe('webgpu');
  });

  it('gives a model without a template the standard one, and refuses unknown names', () => {
    expect(planRun({ ...base, model: { hasChatTemplate: false } }).template).toBe(FALLBACK_TEMPLATE);
    expect(resolveTemplate('llama3', { hasChatTemplate: false }, base.templateNames)).toBe('llama3');
    expect(() => planRun({ ...base, changes: { template: 'nosuch' } })).toThrow(expect.objectContaining({ code: 'template-unknown', message: 'There is no chat template named “nosuch”. Choose one of: alpaca, chatml, llama3.' }));
  });
});

describe('the run state machine’s steps', () => {
  it('maps how a worker ended to the run’s state', () => {
    expect((['done', 'paused', 'cancelled', 'failed', 'crashed', 'killed'] as const).map(endState)).toEqual(['done', 'paused', 'cancelled', 'failed', 'crashed', 'crashed']);
  });

  it('records what each event tells and what an exit leaves', () => {
    expect(recordPatch({ type: 'step', step: 3, totalSteps: 9, epoch: 1, loss: 1, lr: 1e-3, tokensPerSecond: 5, etaSeconds: 2 })).toEqual({ step: 3, totalSteps: 9 });
    expect(recordPatch({ type: 'checkpoint', step: 3, path: '/c' })).toEqual({ lastCheckpoint: '/c' });
    expect(recordPatch({ type: 'eval', step: 3, valLoss: 1, best: true })).toBeUndefined();
    const now = new Date('2026-01-02T03:04:05Z');
    expect(exitPatch({ reason: 'cancelled' }, now)).toEqual({ state: 'cancelled', exitReason: 'cancelled', message: undefined, endedAt: now.toISOString(), stoppedBecause: 'cancelled' });
    const result = { adapterDir: '/a', bestStep: 4, bestValLoss: 0.5, stoppedBecause: 'early-stopping' as const };
    expect(exitPatch({ reason: 'done', result }, now)).toMatchObject({ state: 'done', ...result });
    expect(exitPatch({ reason: 'crashed', message: 'gone' }, now)).not.toHaveProperty('stoppedBecause');
  });
});

/** A chat handle whose answers finish when the test says so. */
function fakeHandle() {
  const calls: { text: string; signal: AbortSignal; finish: () => void }[] = [];
  const handle: ChatHandle & { closed: boolean } = {
    closed: false,
    generate: (messages, _sampling, { onToken, signal }) =>
      new Promise((resolve) => {
        const text = messages[messages.length - 1]!.content;
        calls.push({ text, signal, finish: () => (onToken(text), resolve({ text, tokens: 1, promptTokens: 1, tokensPerSecond: 1 })) });
      }),
    close: async () => {
      handle.closed = true;
    },
  };
  return { handle, calls };
}

describe('chat sessions', () => {
  const ask = (sessionId: string, streamId: string, content: string, which: 'base' | 'tuned' = 'base') => ({
    sessionId, streamId, which, messages: [{ role: 'user' as const, content }], sampling: { maxTokens: 4, temperature: 0, topP: 1, topK: 0, seed: 1 },
  });

  it('answers one prompt at a time per session, streaming its pieces', async () => {
    const chats = new ChatSessions();
    const { handle, calls } = fakeHandle();
    const { sessionId } = chats.add(handle, true);
    const tokens: string[] = [];
    const first = chats.generate(ask(sessionId, 's1', 'one'), (d) => tokens.push(d));
    const second = chats.generate(ask(sessionId, 's2', 'two', 'tuned'), (d) => tokens.push(d));
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    calls[0]!.finish();
    await expect(first).resolves.toMatchObject({ text: 'one', stopped: false });
    await vi.waitFor(() => expect(calls).toHaveLength(2));
    calls[1]!.finish();
    await expect(second).resolves.toMatchObject({ text: 'two', stopped: false });
    expect(tokens).toEqual(['one', 'two']);
  });

  it('stops a waiting answer before it starts, and refuses what cannot be answered', async () => {
    const chats = new ChatSessions();
    const { handle, calls } = fakeHandle();
    const { sessionId } = chats.add(handle, false);
    const first = chats.generate(ask(sessionId, 's1', 'one'), () => {});
    const waiting = chats.generate(ask(sessionId, 's2', 'two'), () => {});
    await expect(chats.generate(ask(sessionId, 's1', 'again'), () => {})).rejects.toMatchObject({ code: 'chat-stream-busy' });
    await expect(chats.generate(ask(sessionId, 's3', 'x', 'tuned'), () => {})).rejects.toMatchObject({ code: 'chat-no-adapter' });
    await expect(chats.generate(ask('nope', 's4', 'x'), () => {})).rejects.toMatchObject({ code: 'chat-closed' });
    expect(chats.stop('s2')).toBe(true);
    expect(chats.stop('unknown')).toBe(false);
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    calls[0]!.finish();
    await first;
    await expect(waiting).resolves.toEqual({ text: '', tokens: 0, promptTokens: 0, tokensPerSecond: 0, stopped: true });
    expect(calls).toHaveLength(1);
  });

  it('closes a session after its current answer', async () => {
    const chats = new ChatSessions();
    const { handle, calls } = fakeHandle();
    const { sessionId } = chats.add(handle, false);
    const answer = chats.generate(ask(sessionId, 's1', 'one'), () => {});
    const closing = chats.close(sessionId);
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    expect(handle.closed).toBe(false);
    calls[0]!.finish();
    await answer;
    await expect(closing).resolves.toBe(true);
    expect(handle.closed).toBe(true);
    await expect(chats.close(sessionId)).resolves.toBe(false);
  });
});

describe('the memory-fit policy', () => {
  const GB = 1024 ** 3;
  it('fits under half the memory, is tight up to 85%, too big beyond', () => {
    expect(fitFor(undefined, 16 * GB)).toBeUndefined();
    expect(fitFor(4 * GB, 16 * GB)).toEqual({ verdict: 'fits', explanation: 'Tuning needs about 4.0 GB of memory; this computer has 16.0 GB.' });
    expect(fitFor(10 * GB, 16 * GB)?.verdict).toBe('tight');
    expect(fitFor(14 * GB, 16 * GB)).toEqual({ verdict: 'too-big', explanation: "Tuning needs about 14.0 GB, more than this computer's 16.0 GB. Choose a smaller model." });
  });
});

describe('the model catalogue', () => {
  it('lists workspace folders and GGUF files and added models, and inspects each file version once', async () => {
    const modelsDir = path.join(tmp, 'models');
    await mkdir(path.join(modelsDir, 'tiny'), { recursive: true });
    await writeFile(path.join(modelsDir, 'tiny', 'config.json'), '{}');
    await mkdir(path.join(modelsDir, 'not-a-model'));
    await writeFile(path.join(modelsDir, 'small.gguf'), 'GGUF');
    const inspectModel = vi.fn(async () => ({ architecture: 'llama', memory: { inferenceBytes: 1, tuningBytes: 2 } }));
    const catalog = new ModelCatalog({ engine: { inspectModel }, modelsDir: () => modelsDir, added: () => [{ path: '/elsewhere/x.gguf', kind: 'gguf' }], totalMemoryBytes: () => 100 });
    const list = await catalog.list();
    expect(list.map((m) => [m.name, m.kind, m.origin])).toEqual(expect.arrayContaining([['tiny', 'folder', 'workspace'], ['small', 'gguf', 'workspace'], ['x', 'gguf', 'added']]));
    expect(list).toHaveLength(3);
    expect(list.find((m) => m.name === 'x')?.problem).toBe('The model is no longer at this location.');
    expect(list.find((m) => m.name === 'tiny')).toMatchObject({ architecture: 'llama', fit: { verdict: 'fits' } });
    await catalog.list();
    expect(inspectModel).toHaveBeenCalledTimes(2); // cached until the file changes
    await expect(catalog.require('/not/known')).rejects.toMatchObject({ code: 'model-unknown' });
    await expect(catalog.usable('/elsewhere/x.gguf')).rejects.toMatchObject({ code: 'model-unreadable' });
  });
});

describe('fixing a row in place', () => {
  it('replaces one line, keeping Windows line endings, and refuses what would break the file', async () => {
    const file = path.join(tmp, 'rows.jsonl');
    await writeFile(file, 'a\r\nb\r\nc\r\n');
    await replaceLine(file, 2, 'B');
    expect(await readFile(file, 'utf8')).toBe('a\r\nB\r\nc\r\n');
    await expect(replaceLine(file, 2, 'x\ny')).rejects.toMatchObject({ code: 'fix-one-line' });
    await expect(replaceLine(file, 9, 'x')).rejects.toMatchObject({ code: 'fix-line-missing' });
    await expect(replaceLine(path.join(tmp, 'book.xlsx'), 1, 'x')).rejects.toMatchObject({ code: 'fix-not-line-based' });
  });
});

describe('the local server', () => {
  it('runs one at a time, stopping the previous, and says so', async () => {
    const seen: [EventName, unknown][] = [];
    const emit = <K extends EventName>(name: K, payload: Payload<K>) => void seen.push([name, payload]);
    const server = new LocalServer(emit);
    const closed: string[] = [];
    const open = (id: string) => async () => ({ url: `http://127.0.0.1:1/${id}`, port: 1, modelId: id, close: async () => void closed.push(id) });
    await server.start('P', 'r1', open('a'));
    await server.start('P', 'r2', open('b'));
    expect(closed).toEqual(['a']);
    expect(server.info()).toEqual({ project: 'P', runId: 'r2', url: 'http://127.0.0.1:1/b', port: 1, modelId: 'b' });
    await expect(server.stop()).resolves.toBe(true);
    await expect(server.stop()).resolves.toBe(false);
    expect(seen.map(([n, p]) => [n, p && (p as { runId: string }).runId])).toEqual([['serve.state', 'r1'], ['serve.state', null], ['serve.state', 'r2'], ['serve.state', null]]);
    expect(serverModelId('My project', 'run-1')).toBe('My-project/run-1');
  });
});

describe('small helpers', () => {
  it('single-flight work: asking again while it runs joins it; afterwards it runs anew', async () => {
    const flight = new SingleFlight<number>();
    let runs = 0;
    let release!: () => void;
    const work = () => new Promise<number>((r) => (runs++, (release = () => r(runs))));
    const a = flight.run('k', work);
    const b = flight.run('k', work);
    release();
    expect(await Promise.all([a, b])).toEqual([1, 1]);
    const c = flight.run('k', work);
    release();
    expect(await c).toBe(2);
  });

  it('exports may be shown only inside their folder', () => {
    expect(isInside('/w/p/exports', '/w/p/exports/run-1-peft')).toBe(true);
    expect(isInside('/w/p/exports', '/w/p/exports/../../etc')).toBe(false);
    expect(isInside('/w/p/exports', '/etc')).toBe(false);
  });
});
