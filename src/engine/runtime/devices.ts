/**
 * Which execution providers work on this machine. Each is probed with a tiny graph whose
 * result is checked against the CPU; 'auto' picks the first that passes, else the CPU, and
 * always says why.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/builder.js';
import { serializeGraph } from '../onnx/serialize.js';
import type { DeviceChoice, ResolvedDevice } from './session.js';

export type { DeviceChoice };

export interface DeviceProbe {
  device: ResolvedDevice;
  available: boolean;
  /** Plain-language reason when not available. */
  reason?: string;
}

export interface ResolvedDeviceInfo {
  device: ResolvedDevice;
  reason: string;
}

/** The providers onnxruntime-node can have on this platform, fastest first. */
function candidates(): ResolvedDevice[] {
  if (process.platform === 'win32') return ['cuda', 'dml', 'webgpu', 'cpu'];
  if (process.platform === 'linux') return ['cuda', 'webgpu', 'cpu'];
  return ['webgpu', 'cpu'];
}

let probeGraph: Uint8Array | undefined;
function probeModel(): Uint8Array {
  if (!probeGraph) {
    const g = new GraphBuilder('probe');
    const x = g.input('x', 'float32', [4, 8]);
    const w = g.constant('float32', [8, 8], Array.from({ length: 64 }, (_, i) => Math.sin(i)));
    g.output(g.softmax(g.matMul(x, w), -1), 'y');
    probeGraph = serializeGraph(g).model;
  }
  return probeGraph;
}

const PROBE_INPUT = Float32Array.from({ length: 32 }, (_, i) => Math.cos(i));

async function runProbe(device: ResolvedDevice): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(probeModel(), { executionProviders: [device], logSeverityLevel: 4 });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', PROBE_INPUT, [4, 8]) });
    return out.y.data as Float32Array;
  } finally {
    await session.release();
  }
}

let cached: DeviceProbe[] | undefined;

export async function probeDevices(): Promise<DeviceProbe[]> {
  if (cached) return cached;
  const backends = new Set(ort.listSupportedBackends().map((b) => b.name));
  const reference = await runProbe('cpu');
  const results: DeviceProbe[] = [];
  for (const device of candidates()) {
    if (device === 'cpu') {
      results.push({ device, available: true });
      continue;
    }
    if (!backends.has(device) || (device === 'cuda' && !cudaInstalled())) {
      results.push({ device, available: false, reason: notBundledReason(device) });
      continue;
    }
    try {
      const got = await runProbe(device);
      const err = Math.max(...Array.from(got, (v, i) => Math.abs(v - reference[i])));
      results.push(err < 1e-3 ? { device, available: true } : { device, available: false, reason: `its results differ from the CPU's (max error ${err.toExponential(1)})` });
    } catch (e) {
      results.push({ device, available: false, reason: startFailure((e as Error).message) });
    }
  }
  cached = results;
  return results;
}

/** onnxruntime-node's CUDA provider is an opt-in download next to its binding. */
function cudaInstalled(): boolean {
  try {
    const pkg = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    return existsSync(path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

function notBundledReason(device: ResolvedDevice): string {
  if (device === 'cuda') return 'the CUDA runtime is not installed (run "npm run setup:cuda" on a machine with an NVIDIA GPU)';
  if (device === 'dml') return 'DirectML exists only on Windows';
  return 'this build of ONNX Runtime does not include it';
}

/** ONNX Runtime's start-up errors name source files; say what they mean instead. */
function startFailure(message: string): string {
  if (/adapter|Vulkan|no (suitable )?device/i.test(message)) return 'it found no usable graphics card (or its driver is missing)';
  if (/cuda|cudnn|libcu/i.test(message)) return 'the NVIDIA driver or CUDA libraries could not be loaded';
  const line = message.split('\n')[0].replace(/^\S*onnxruntime\S*:\d+\s*/, '');
  return `it could not start (${line.slice(0, 160)})`;
}

export async function resolveDevice(choice: DeviceChoice): Promise<ResolvedDeviceInfo> {
  if (choice === 'cpu') return { device: 'cpu', reason: 'you chose the CPU' };
  if (choice !== 'auto') {
    const probes = await probeDevices();
    const p = probes.find((x) => x.device === choice);
    if (p?.available) return { device: choice, reason: `you chose ${choice}` };
    return { device: 'cpu', reason: `${choice} is not usable here (${p?.reason ?? 'not available on this system'})` };
  }
  // 'auto' only considers CUDA for now: the WebGPU and DirectML paths are not yet verified
  // end to end for our graphs, and probing them costs seconds at start-up.
  if (!cudaInstalled()) return { device: 'cpu', reason: 'no GPU runtime is installed' };
  const probes = await probeDevices();
  const gpu = probes.find((p) => p.available && p.device === 'cuda');
  if (gpu) return { device: gpu.device, reason: 'an NVIDIA GPU with CUDA passed the check' };
  return { device: 'cpu', reason: `the CUDA check failed (${probes.find((p) => p.device === 'cuda')?.reason ?? 'unknown'})` };
}
