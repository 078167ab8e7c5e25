/**
 * Device choice: the fastest provider that passed its check, a GPU only when clearly faster than
 * the CPU, reasons in words; probe results kept per machine for a week.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseDevice, GPU_ADVANTAGE, probeDevices, resolveDevice, type DeviceProbe } from '../../../src/engine/runtime/devices.js';
import { baseStorageOn } from '../../../src/engine/train/tune.js';

const cpu = (gflops: number): DeviceProbe => ({ device: 'cpu', available: true, gflops });

describe('the automatic device choice', () => {
  it('takes the fastest GPU that passed when it clearly beats the CPU', () => {
    const r = chooseDevice([
      { device: 'webgpu', available: true, gflops: 900 },
      { device: 'cuda', available: true, gflops: 4000 },
      cpu(200),
    ]);
    expect(r.device).toBe('cuda');
    expect(r.reason).toMatch(/CUDA passed the check .*4000 against 200 billion calculations a second/);
  });

  it('stays on the CPU when the GPU works but is not clearly faster (e.g. a software Vulkan device)', () => {
    const slow = chooseDevice([{ device: 'webgpu', available: true, gflops: 0.9 }, cpu(390)]);
    expect(slow).toEqual({ device: 'cpu', reason: 'WebGPU works but was not clearly faster than the CPU on a speed test (0.90 against 390 billion calculations a second)' });
    expect(chooseDevice([{ device: 'webgpu', available: true, gflops: 200 * GPU_ADVANTAGE * 0.9 }, cpu(200)]).device).toBe('cpu');
    expect(chooseDevice([{ device: 'webgpu', available: true, gflops: 200 * GPU_ADVANTAGE }, cpu(200)]).device).toBe('webgpu');
  });

  it('judges tuning by the training-sized speed test and chat by the small one', () => {
    // As measured on an H200 through WebGPU against a 16-core CPU: launch-bound at the small size,
    // many times faster at training size (a training step ran 5.2x faster there).
    const probes: DeviceProbe[] = [
      { device: 'webgpu', available: true, gflops: 572, bulkGflops: 9000 },
      { device: 'cpu', available: true, gflops: 806, bulkGflops: 900 },
    ];
    const training = chooseDevice(probes, 'training');
    expect(training).toEqual({ device: 'webgpu', reason: 'WebGPU passed the check and was faster than the CPU on a speed test sized like training (9000 against 900 billion calculations a second)' });
    expect(chooseDevice(probes, 'chat').device).toBe('cpu');
    expect(chooseDevice(probes).device).toBe('cpu');
    // A GPU too slow for the training-sized run (none measured) is judged by the small test.
    expect(chooseDevice([{ device: 'webgpu', available: true, gflops: 0.9 }, probes[1]!], 'training').device).toBe('cpu');
  });

  it('says why each GPU failed when none passed', () => {
    const r = chooseDevice([
      { device: 'cuda', available: false, reason: 'the CUDA runtime is not installed' },
      { device: 'webgpu', available: false, reason: 'it found no usable graphics card' },
      cpu(100),
    ]);
    expect(r).toEqual({ device: 'cpu', reason: 'no GPU passed the check (CUDA: the CUDA runtime is not installed; WebGPU: it found no usable graphics card)' });
  });
});

describe('probing', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'attune-devices-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const useCache = (name: string) => {
    const dir = path.join(root, name);
    mkdirSync(dir, { recursive: true });
    process.env.ATTUNE_CACHE_DIR = dir;
    return path.join(dir, 'devices.json');
  };

  it('measures the CPU, keeps the results, and reuses them until the machine or the week changes', async () => {
    const first = useCache('a');
    const probes = await probeDevices({ fresh: true });
    const measured = probes.find((p) => p.device === 'cpu')!;
    expect(measured.available).toBe(true);
    expect(measured.gflops).toBeGreaterThan(1);
    expect(measured.bulkGflops).toBeGreaterThan(1);
    expect(existsSync(first)).toBe(true);

    // A kept result is used as it is (marked here with an impossible speed)...
    const saved = JSON.parse(readFileSync(first, 'utf8'));
    const marked = { ...saved, probes: saved.probes.map((p: DeviceProbe) => (p.device === 'cpu' ? { ...p, gflops: 123456 } : p)) };
    const second = useCache('b');
    writeFileSync(second, JSON.stringify(marked));
    expect((await probeDevices()).find((p) => p.device === 'cpu')!.gflops).toBe(123456);
    expect((await resolveDevice('cpu')).device).toBe('cpu');

    // ...but not one from another machine or older than a week, and not when asked to probe afresh.
    for (const [name, stale] of [['c', { ...marked, key: 'another machine' }], ['d', { ...marked, probedAt: Date.now() - 8 * 86_400_000 }]] as const) {
      writeFileSync(useCache(name), JSON.stringify(stale));
      expect((await probeDevices()).find((p) => p.device === 'cpu')!.gflops).not.toBe(123456);
    }
    copyFileSync(second, useCache('e'));
    expect((await probeDevices({ fresh: true })).find((p) => p.device === 'cpu')!.gflops).not.toBe(123456);
  });
});

describe('the frozen base on each device', () => {
  const gpu = (f16: boolean): DeviceProbe => ({ device: 'webgpu', available: true, gflops: 900, f16 });
  it('is F32 on the CPU and half precision on a GPU that computes in it, unless chosen', () => {
    expect(baseStorageOn('cpu', undefined, undefined)).toBe('f32');
    expect(baseStorageOn('webgpu', gpu(true), undefined)).toBe('f16');
    expect(baseStorageOn('webgpu', gpu(false), undefined)).toBe('f32');
    expect(baseStorageOn('webgpu', gpu(true), 'int4')).toBe('int4');
    expect(baseStorageOn('cpu', undefined, 'f16')).toBe('f16');
  });

  it('refuses f16 in words on a GPU without half-precision shaders', () => {
    expect(() => baseStorageOn('webgpu', gpu(false), 'f16')).toThrow('GPU (WebGPU) cannot compute with half-precision numbers, so it cannot keep the base model at half size (f16). Choose the exact (f32), quarter (int8) or eighth (int4) size for the base model, or run on the CPU.');
  });
});
