import { describe, expect, it, vi } from 'vitest';
import { buildApi, BridgeError, type Transport } from '../../src/shared/bridge.js';
import { callNames, calls, eventNames, type CallName } from '../../src/shared/contract.js';
import { dispatch, isCallName } from '../../src/main/dispatch.js';
import { isTrustedUrl } from '../../src/main/trust.js';
import type { Handlers } from '../../src/main/handlers.js';
import { toTuneConfig } from '../../src/main/engine-facade.js';
import type { TuneJobSpec } from '../../src/main/engine.js';
import { PRESETS } from '../../src/shared/presets.js';

describe('the contract', () => {
  it('names every call and event as namespace.verb', () => {
    for (const n of [...callNames, ...eventNames]) expect(n).toMatch(/^[a-z]+\.[a-z][A-Za-z]*$/);
  });

  it('gives every call a request schema', () => {
    for (const n of callNames) expect(typeof calls[n].request.safeParse).toBe('function');
  });

  it('refuses project names that could leave the workspace', () => {
    const create = calls['projects.create'].request;
    for (const bad of ['../x', '/etc', 'a/b', 'a\\b', '.hidden', '', ' '.repeat(3), 'x'.repeat(65)]) expect(create.safeParse({ name: bad }).success, bad).toBe(false);
    for (const good of ['Support answers', 'Kundenservice_2', 'été-1']) expect(create.safeParse({ name: good }).success, good).toBe(true);
  });

  it('refuses ids with path separators and unknown keys', () => {
    const pause = calls['tune.pause'].request;
    expect(pause.safeParse({ project: 'p', runId: '../../x' }).success).toBe(false);
    expect(pause.safeParse({ project: 'p', runId: '..' }).success).toBe(false);
    expect(pause.safeParse({ project: 'p', runId: 'run-1', extra: 1 }).success).toBe(false);
    expect(pause.safeParse({ project: 'p', runId: 'run-1' }).success).toBe(true);
  });

  it('bounds sampling and advanced settings', () => {
    const gen = calls['chat.generate'].request;
    const base = { sessionId: 's', streamId: 't', which: 'base', messages: [{ role: 'user', content: 'hi' }], sampling: { maxTokens: 10, temperature: 0.5, topP: 0.9, topK: 0, seed: 1 } };
    expect(gen.safeParse(base).success).toBe(true);
    expect(gen.safeParse({ ...base, sampling: { ...base.sampling, maxTokens: 1e6 } }).success).toBe(false);
    expect(gen.safeParse({ ...base, messages: [{ role: 'tool', content: 'x' }] }).success).toBe(false);
    const start = calls['tune.start'].request;
    expect(start.safeParse({ project: 'p', modelPath: '/m', preset: 'quick', advanced: { rank: 0 } }).success).toBe(false);
    expect(start.safeParse({ project: 'p', modelPath: '/m', preset: 'quick', advanced: { rank: 8 } }).success).toBe(true);
    // Early stopping, template and untrained-token choices.
    const adv = (advanced: Record<string, unknown>) => start.safeParse({ project: 'p', modelPath: '/m', preset: 'quick', advanced }).success;
    expect(adv({ earlyStopping: false, evalEvery: 0, patience: 3, trainTokens: 'none', template: 'chatml' })).toBe(true);
    // Memory: how the base is stored, and recomputed activations.
    expect(adv({ baseWeights: 'int4', saveActivationMemory: true })).toBe(true);
    for (const bad of [{ patience: 0 }, { evalEvery: -1 }, { trainTokens: [2] }, { template: '../x' }, { template: 'A B' }, { earlyStopping: 'yes' }, { baseWeights: 'int3' }, { saveActivationMemory: 1 }]) expect(adv(bad), JSON.stringify(bad)).toBe(false);
    const serve = calls['serve.start'].request;
    expect(serve.safeParse({ project: 'p', runId: 'run-1' }).success).toBe(true);
    expect(serve.safeParse({ project: 'p', runId: 'run-1', port: 70000 }).success).toBe(false);
    expect(serve.safeParse({ project: 'p', runId: 'run-1', host: '0.0.0.0' }).success).toBe(false);
    expect(calls['export.run'].request.safeParse({ project: 'p', runId: 'r', modelPath: '/m', format: 'peft', overwrite: 'yes' }).success).toBe(false);
  });
});

describe('the bridge built from the contract', () => {
  const transport = (answer: (name: CallName, req: unknown) => unknown): Transport & { subs: Map<string, (p: unknown) => void> } => {
    const subs = new Map<string, (p: unknown) => void>();
    return {
      subs,
      invoke: async (name, req) => answer(name, req) as never,
      subscribe: (name, l) => {
        subs.set(name, l);
        return () => subs.delete(name);
      },
    };
  };

  it('has one verb per call and one subscription per event, and nothing else', () => {
    const api = buildApi(transport(() => ({ ok: true, value: null }))) as unknown as Record<string, Record<string, unknown>>;
    const verbs = Object.entries(api).flatMap(([ns, o]) => Object.keys(o).map((v) => `${ns}.${v}`));
    const expected = [...callNames, ...eventNames.map((e) => e.replace(/\.(\w)/, (_, c: string) => `.on${c.toUpperCase()}`))];
    expect(verbs.sort()).toEqual(expected.sort());
    expect(Object.isFrozen(api)).toBe(true);
    expect(Object.isFrozen(api['data'])).toBe(true);
  });

  it('passes requests through and unwraps answers', async () => {
    const seen: unknown[] = [];
    const api = buildApi(transport((name, req) => (seen.push([name, req]), { ok: true, value: { sessionId: 'c1', hasAdapter: false } })));
    await expect(api.chat.open({ project: 'p', modelPath: '/m' })).resolves.toEqual({ sessionId: 'c1', hasAdapter: false });
    expect(seen).toEqual([['chat.open', { project: 'p', modelPath: '/m' }]]);
  });

  it('turns an error answer into a BridgeError with its code', async () => {
    const api = buildApi(transport(() => ({ ok: false, error: { code: 'project-exists', message: 'A project called "x" already exists.' } })));
    const err = await api.projects.create({ name: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BridgeError);
    expect(err).toMatchObject({ code: 'project-exists', message: 'A project called "x" already exists.' });
  });

  it('subscribes and unsubscribes to events', () => {
    const t = transport(() => ({ ok: true, value: null }));
    const api = buildApi(t);
    const cb = vi.fn();
    const off = api.tune.onProgress(cb);
    t.subs.get('tune.progress')!({ project: 'p', runId: 'r', event: { type: 'eval', step: 1, valLoss: 2 } });
    expect(cb).toHaveBeenCalledOnce();
    off();
    expect(t.subs.has('tune.progress')).toBe(false);
  });
});

describe('dispatch', () => {
  const handlers = { 'projects.create': async (r: { name: string }) => ({ name: r.name, runs: 0, updatedAt: 'now' }) } as unknown as Handlers;

  it('validates before calling the handler', async () => {
    await expect(dispatch(handlers, 'projects.create', { name: '../etc' })).resolves.toMatchObject({ ok: false, error: { code: 'bad-request' } });
    await expect(dispatch(handlers, 'projects.create', { name: 'Good' })).resolves.toEqual({ ok: true, value: { name: 'Good', runs: 0, updatedAt: 'now' } });
  });

  it('refuses unknown calls, including inherited property names', async () => {
    for (const n of ['nope', 'constructor', '__proto__', 'toString', 42]) {
      expect(isCallName(n)).toBe(false);
      await expect(dispatch(handlers, n, {})).resolves.toMatchObject({ ok: false, error: { code: 'unknown-call' } });
    }
  });
});

describe('sender check', () => {
  it('trusts only our page', () => {
    const file = 'file:///app/out/renderer/index.html';
    expect(isTrustedUrl('file:///app/out/renderer/index.html', file)).toBe(true);
    expect(isTrustedUrl('file:///app/out/renderer/index.html#/x', file)).toBe(true);
    expect(isTrustedUrl('file:///tmp/evil.html', file)).toBe(false);
    expect(isTrustedUrl('https://example.com/', file)).toBe(false);
    const dev = 'http://localhost:5173/';
    expect(isTrustedUrl('http://localhost:5173/index.html', dev)).toBe(true);
    expect(isTrustedUrl('http://localhost:5174/', dev)).toBe(false);
    expect(isTrustedUrl('not a url', dev)).toBe(false);
  });
});

describe('settings to the engine', () => {
  it('passes the memory settings through, and reads records from before them as the defaults', () => {
    const settings = { ...PRESETS.quick.values, baseWeights: 'int4' as const, saveActivationMemory: true };
    const spec = { modelPath: '/m', dataFile: '/d.jsonl', runDir: '/r', valFraction: 0.1, settings } as unknown as TuneJobSpec;
    expect(toTuneConfig(spec)).toMatchObject({ baseStorage: 'int4', recomputeActivations: true, rank: settings.rank });
    const { baseWeights: _b, saveActivationMemory: _s, ...older } = settings;
    expect(toTuneConfig({ ...spec, settings: older } as unknown as TuneJobSpec)).toMatchObject({ baseStorage: 'f32', recomputeActivations: false });
  });
});
