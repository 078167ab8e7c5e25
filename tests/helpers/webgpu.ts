/**
 * WebGPU for tests. Machines without a graphics card (CI) run ORT's WebGPU provider on
 * SwiftShader, the Vulkan device in software that Debian's Chromium package ships: slow, but the
 * same provider, kernels and node placement as on a real GPU, so results are checked for real.
 * CI sets ATTUNE_REQUIRE_WEBGPU=1, which turns "no WebGPU here" into a failure instead of a skip.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { probeDevices } from '../../src/engine/runtime/devices.js';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Why WebGPU cannot run here, or null when it can. Call before the first WebGPU session. */
export async function webgpuUnavailableReason(): Promise<string | null> {
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  process.env.XDG_RUNTIME_DIR ??= os.tmpdir();
  const probe = (await probeDevices()).find((p) => p.device === 'webgpu');
  const reason = !probe ? 'this platform has no WebGPU provider' : probe.available ? null : probe.reason ?? 'unknown';
  if (reason && process.env.ATTUNE_REQUIRE_WEBGPU === '1') throw new Error(`WebGPU is required (ATTUNE_REQUIRE_WEBGPU=1) but not usable: ${reason}`);
  return reason;
}
