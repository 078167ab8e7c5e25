/**
 * The device probe is quiet (issue #13.6): what a GPU provider's native code prints (Dawn's
 * "Warning: Couldn't load Vulkan: libvulkan.so.1 ..." without a Vulkan driver) never reaches the
 * terminal; `attune devices` (and the demo's automatic choice, which probes the same way) say in
 * words what was found.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { nativeReason } from '../../../src/engine/runtime/quiet-probe.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-quiet-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const repoRoot = path.resolve(import.meta.dirname, '../../..');
let n = 0;

async function devicesJson(env: Record<string, string>): Promise<{ stdout: string; stderr: string }> {
  // A fresh cache folder each time: the probe runs for real.
  return promisify(execFile)(process.execPath, ['bin/attune.mjs', 'devices', '--json'], {
    cwd: repoRoot,
    env: { ...process.env, ATTUNE_CACHE_DIR: path.join(tmp, `cache${n++}`), ...env },
  });
}

function expectQuiet(r: { stdout: string; stderr: string }) {
  expect(r.stderr).not.toMatch(/Vulkan|Warning|dawn|XDG_RUNTIME_DIR|onnxruntime/i);
  expect(r.stderr.trim()).toBe('');
  const j = JSON.parse(r.stdout); // nothing but the report on stdout
  for (const d of j.devices) if (!d.available) expect(d.reason).not.toMatch(/\.cc:|\.cpp:|\/build\//);
  return j as { devices: { device: string; available: boolean; reason?: string }[] };
}

describe('a quiet device probe', () => {
  it('without a usable Vulkan library: nothing on stderr, and the reason in words', async () => {
    if (process.platform !== 'linux') {
      expectQuiet(await devicesJson({}));
      return;
    }
    // A broken libvulkan.so.1 first on the library path: Dawn cannot load Vulkan, as on a machine without the driver.
    const lib = path.join(tmp, 'novulkan');
    rmSync(lib, { recursive: true, force: true });
    mkdirSync(lib, { recursive: true });
    writeFileSync(path.join(lib, 'libvulkan.so.1'), '');
    const j = expectQuiet(await devicesJson({ LD_LIBRARY_PATH: lib }));
    const webgpu = j.devices.find((d) => d.device === 'webgpu')!;
    expect(webgpu.available).toBe(false);
    expect(webgpu.reason).toBe('the Vulkan graphics library (libvulkan.so.1) could not be loaded (file too short), so it cannot reach a graphics card');
  }, 120_000);

  it('on this machine as it is: nothing on stderr either', async () => {
    expectQuiet(await devicesJson({}));
  }, 120_000);

  it("reads Dawn's message when the library is missing", () => {
    const line = "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory\n    at operator() (/build/Release/_deps/dawn-src/src/dawn/native/vulkan/BackendVk.cpp:368)\n";
    expect(nativeReason(line)).toBe('the Vulkan graphics library (libvulkan.so.1) is not installed, so it cannot reach a graphics card');
    expect(nativeReason('')).toBeUndefined();
  });
});
