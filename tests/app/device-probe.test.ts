import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseDevice, probeDevices, resolveDevice } from '../../src/engine/index.js';
import { nodeRunner } from '../../src/main/jobs/node-runner.js';
import type { EngineFacade } from '../../src/main/engine.js';
import { childDeviceProbe, probeInChild, PROBE_CRASHED, PROBE_TIMED_OUT, withChildProbe } from '../../src/main/services/device-probe.js';

const fixture = path.join(import.meta.dirname, 'fixtures', 'crashing-probe.mjs');
const realWorker = path.join(import.meta.dirname, '../../src/main/jobs/probe-worker.ts');
let cacheDir: string;
const savedCache = process.env.ATTUNE_CACHE_DIR;

beforeAll(async () => {
  cacheDir = await mkdtemp(path.join(os.tmpdir(), 'attune-probe-'));
  process.env.ATTUNE_CACHE_DIR = cacheDir;
});
afterAll(async () => {
  if (savedCache === undefined) delete process.env.ATTUNE_CACHE_DIR;
  else process.env.ATTUNE_CACHE_DIR = savedCache;
  await rm(cacheDir, { recursive: true, force: true });
});

describe('device probe in a child process', () => {
  it('a probe child that crashes gives "the device check crashed; using the CPU", and the caller carries on', async () => {
    const outcome = await probeInChild(nodeRunner({ workerPath: fixture }));
    expect(outcome.note).toBe(PROBE_CRASHED);
    expect(outcome.probes.find((p) => p.device === 'cpu')).toMatchObject({ available: true });
    const gpus = outcome.probes.filter((p) => p.device !== 'cpu');
    expect(gpus.length).toBeGreaterThan(0);
    for (const g of gpus) {
      expect(g.available).toBe(false);
      expect(g.reason).toMatch(/^the device check crashed; using the CPU \(signal SIGSEGV\)$/);
    }
    const choice = chooseDevice(outcome.probes);
    expect(choice.device).toBe('cpu');
    expect(choice.reason).toContain('the device check crashed; using the CPU');
    // This process (the window's, in the app) is still here and can do work.
    expect(process.pid).toBeGreaterThan(0);
    expect([1, 2, 3].reduce((a, b) => a + b)).toBe(6);
  });

  it('a probe child that hangs is ended after the time limit, and the CPU is used', async () => {
    const started = Date.now();
    const outcome = await probeInChild(nodeRunner({ workerPath: fixture, env: { PROBE_FIXTURE: 'hang' } }), { timeoutMs: 1500 });
    expect(outcome.note).toBe(PROBE_TIMED_OUT);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(chooseDevice(outcome.probes).device).toBe('cpu');
  });

  it('after a crash, the app process never probes itself: devices and resolveDevice use the remembered CPU answer', async () => {
    const probe = childDeviceProbe(nodeRunner({ workerPath: fixture }));
    const calls: string[] = [];
    const inner: Pick<EngineFacade, 'devices' | 'openChat' | 'serve'> = {
      devices: async () => {
        calls.push('devices');
        const [probes, chosen] = await Promise.all([probeDevices(), resolveDevice('auto')]);
        return { available: probes.map((p) => ({ device: p.device, label: p.device, ok: p.available, reason: p.reason })), chosen: chosen.device, why: chosen.reason };
      },
      openChat: async () => {
        calls.push('openChat');
        return { generate: async () => ({ text: '', tokens: 0, promptTokens: 0, tokensPerSecond: 0 }), close: async () => {} };
      },
      serve: async () => {
        calls.push('serve');
        return { url: '', port: 0, modelId: '', close: async () => {} };
      },
    };
    const facade = withChildProbe(inner, probe);
    const info = await facade.devices('auto');
    expect(info.chosen).toBe('cpu');
    expect(info.why).toContain(PROBE_CRASHED);
    expect(info.available.filter((d) => d.device !== 'cpu').every((d) => !d.ok)).toBe(true);
    // The same child answer is shared; the cache keeps it (for a day) for the tuning process.
    expect(await probe()).toBe(await probe());
    const cached = JSON.parse(await readFile(path.join(cacheDir, 'devices.json'), 'utf8'));
    expect(cached.probes.find((p: { device: string }) => p.device === 'cpu').available).toBe(true);
    expect(Date.now() - cached.probedAt).toBeGreaterThan(5 * 86_400_000);
    await facade.openChat({ modelPath: 'm' });
    expect(calls).toEqual(['devices', 'openChat']);
  });

  it('the real probe worker reports what works here, with the CPU among it', async () => {
    const outcome = await probeInChild(nodeRunner({ workerPath: realWorker, env: { ATTUNE_PROBE_FRESH: '1' } }));
    expect(outcome.note).toBeUndefined();
    const cpu = outcome.probes.find((p) => p.device === 'cpu');
    expect(cpu?.available).toBe(true);
    expect(cpu?.gflops).toBeGreaterThan(0);
  }, 120_000);
});
