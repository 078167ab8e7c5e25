/**
 * Which execution providers work on this machine, and which is fastest. Each provider runs a
 * tiny graph whose result is checked against the CPU's, then a chain of matrix multiplications
 * is timed on it. 'auto' picks the fastest provider that passed, and always says why. Probing a
 * GPU costs a second or more, so results are kept for a week in the cache folder, keyed by
 * everything that could change them; `attune devices` always probes afresh. GPU providers are
 * probed in a child process (quiet-probe.ts): their native warnings are captured and told in
 * words, never printed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/builder.js';
import { serializeGraph } from '../onnx/serialize.js';
import { writeTextAtomic } from '../util/atomic.js';
import { cacheRoot } from './cache.js';
import { nativeReason, probeInChild } from './quiet-probe.js';
import { defaultThreads, type DeviceChoice, type ResolvedDevice } from './session.js';
import { DEVICE_LABELS, DEVICE_SHORT_LABELS as SHORT_LABELS } from '../../shared/devices.js';

export type { DeviceChoice };

export interface DeviceProbe {
  device: ResolvedDevice;
  available: boolean;
  /** Plain-language reason when not available. */
  reason?: string;
  /** Measured F32 matrix-multiply rate on the probe chain, GFLOP/s (working providers only). */
  gflops?: number;
  /**
   * The same chain on training-sized work (BULK_ROWS rows, ~17 GFLOP a run), GFLOP/s: a GPU whose
   * launches and copies dominate the small probe can still be many times faster at this size.
   * Measured only where the small probe was fast enough for it to take well under a second.
   */
  bulkGflops?: number;
  /** Whether it computes with half-precision numbers (WebGPU needs the adapter's shader-f16). */
  f16?: boolean;
  /** The command that adds a provider this install lacks: for the CLI to print; the app's words stay in `reason`. */
  setup?: string;
}

export interface ResolvedDeviceInfo {
  device: ResolvedDevice;
  reason: string;
}

export { DEVICE_LABELS };

/**
 * A GPU must beat the CPU by this factor on the probe to be chosen: a training step on a GPU
 * also pays for copies and for the few index ops that stay on the CPU.
 */
export const GPU_ADVANTAGE = 1.5;

/** The providers onnxruntime-node can have on this platform. */
function candidates(): ResolvedDevice[] {
  if (process.platform === 'win32') return ['cuda', 'dml', 'webgpu', 'cpu'];
  if (process.platform === 'linux') return ['cuda', 'webgpu', 'cpu'];
  return ['webgpu', 'cpu'];
}

// ------------------------------------------------------------------ probe graphs

const memo = new Map<string, Uint8Array>();
function once(key: string, build: () => GraphBuilder): Uint8Array {
  if (!memo.has(key)) memo.set(key, serializeGraph(build()).model);
  return memo.get(key)!;
}

/** Numerics: a matmul and a softmax on fixed values. */
const checkModel = () =>
  once('check', () => {
    const g = new GraphBuilder('probe');
    const x = g.input('x', 'float32', [4, 8]);
    const w = g.constant('float32', [8, 8], Array.from({ length: 64 }, (_, i) => Math.sin(i)));
    g.output(g.softmax(g.matMul(x, w), -1), 'y');
    return g;
  });
const CHECK_INPUT = Float32Array.from({ length: 32 }, (_, i) => Math.cos(i));

/** Half precision: x -> f16 -> f32, which fails on a GPU without f16 shaders. */
const halfModel = () =>
  once('half', () => {
    const g = new GraphBuilder('probe-f16');
    g.output(g.cast(g.cast(g.input('x', 'float32', [4, 8]), 'float16'), 'float32'), 'y');
    return g;
  });


/**
 * Speed: [M, K] through CHAIN [K, K] weights, about 1.1 GFLOP per run and 0.5 MiB in and out:
 * enough work that a GPU's launch and copy overheads do not hide its speed, little enough that a
 * software Vulkan device (about 1 GFLOP/s) finishes the probe in a few seconds.
 */
const M = 128;
const K = 1024;
const CHAIN = 4;
const CHAIN_FLOP = 2 * M * K * K * CHAIN;
/**
 * Rows of the training-sized probe (a micro-batch of 4 x 512 tokens). Measured on an H200 through
 * WebGPU: the small probe gave 572 GFLOP/s against a 16-core CPU's 806, yet a LoRA training step
 * ran 5.2x faster on the GPU; chat's one-token decode ran 0.27x, so chat keeps the small probe.
 */
const BULK_ROWS = 2048;
const BULK_FLOP = CHAIN_FLOP * (BULK_ROWS / M);
/** Below this small-probe rate a device would take seconds per bulk run (a software GPU): skip it. */
const BULK_MIN_GFLOPS = 20;
const speedModel = () =>
  once('speed', () => {
    const g = new GraphBuilder('probe-speed');
    let h = g.input('x', 'float32', ['rows', K]);
    const scale = 1 / Math.sqrt(K);
    for (let c = 0; c < CHAIN; c++) {
      const w = g.constant('float32', [K, K], Float32Array.from({ length: K * K }, (_, i) => scale * Math.sin(i * 0.37 + c)));
      h = g.matMul(h, w);
    }
    g.output(h, 'y');
    return g;
  });
/** The probe's inputs, made when a probe first runs (2.2M values: ~90 ms that every import paid). */
const probeInput = (rows: number) => Float32Array.from({ length: rows * K }, (_, i) => Math.cos(i * 0.11));
let inputs: { speed: Float32Array; bulk: Float32Array } | undefined;
const probeInputs = () => (inputs ??= { speed: probeInput(M), bulk: probeInput(BULK_ROWS) });

async function withSession<T>(model: Uint8Array, device: ResolvedDevice, fn: (s: ort.InferenceSession) => Promise<T>): Promise<T> {
  const session = await ort.InferenceSession.create(model, {
    executionProviders: [device],
    logSeverityLevel: 4,
    intraOpNumThreads: defaultThreads(),
    graphOptimizationLevel: 'all',
  });
  try {
    return await fn(session);
  } finally {
    await session.release();
  }
}

const runCheck = (device: ResolvedDevice) =>
  withSession(checkModel(), device, async (s) => (await s.run({ x: new ort.Tensor('float32', CHECK_INPUT, [4, 8]) })).y.data as Float32Array);

/** Best of a few timed runs after a warm-up (which compiles GPU kernels); stops early on slow devices. */
const runSpeed = (device: ResolvedDevice) =>
  withSession(speedModel(), device, async (s) => {
    const best = async (x: Float32Array, rows: number) => {
      const feeds = { x: new ort.Tensor('float32', x, [rows, K]) };
      const out = (await s.run(feeds)).y.data as Float32Array;
      let ms = Infinity;
      let spent = 0;
      for (let i = 0; i < 5 && spent < 1500; i++) {
        const t = performance.now();
        await s.run(feeds);
        const dt = performance.now() - t;
        ms = Math.min(ms, dt);
        spent += dt;
      }
      return { out, ms };
    };
    const small = await best(probeInputs().speed, M);
    const bulk = await best(probeInputs().bulk, BULK_ROWS);
    return { out: small.out, gflops: CHAIN_FLOP / (small.ms / 1000) / 1e9, bulkGflops: BULK_FLOP / (bulk.ms / 1000) / 1e9 };
  });

const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

// ------------------------------------------------------------------ probing and its cache

function ortVersion(): string {
  try {
    return JSON.parse(readFileSync(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** Everything that can change what works or how fast: a change means probing again. */
function machineKey(): string {
  return JSON.stringify({
    // format 3: a training-sized speed test too (bulkGflops)
    format: 3, ort: ortVersion(), platform: process.platform, arch: process.arch, release: os.release(),
    cpu: os.cpus()[0]?.model ?? '', threads: defaultThreads(), cuda: cudaInstalled(), vulkan: process.env.VK_ICD_FILENAMES ?? null,
  });
}

const CACHE_DAYS = 7;
const cacheFile = () => path.join(cacheRoot(), 'devices.json');
let inMemory: { key: string; file: string; probes: DeviceProbe[] } | undefined;

function readCached(file: string, key: string): DeviceProbe[] | undefined {
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    if (saved.key === key && Date.now() - saved.probedAt < CACHE_DAYS * 86_400_000 && Array.isArray(saved.probes)) return saved.probes;
  } catch {
    // missing or unreadable: probe again
  }
  return undefined;
}

/** What works here, with speeds. `fresh` ignores results kept from an earlier probe. */
export async function probeDevices(opts: { fresh?: boolean } = {}): Promise<DeviceProbe[]> {
  const key = machineKey();
  const file = cacheFile();
  if (!opts.fresh) {
    if (inMemory?.key === key && inMemory.file === file) return inMemory.probes;
    const saved = readCached(file, key);
    if (saved) return (inMemory = { key, file, probes: saved }).probes;
  }
  const probes = await probeAll();
  inMemory = { key, file, probes };
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeTextAtomic(file, JSON.stringify({ key, probedAt: Date.now(), probes }, null, 1));
  } catch {
    // a read-only cache folder only costs a probe next time
  }
  return probes;
}

async function probeAll(): Promise<DeviceProbe[]> {
  const backends = new Set(ort.listSupportedBackends().map((b) => b.name));
  const reference = await runCheck('cpu');
  const cpuSpeed = await runSpeed('cpu');
  const results: DeviceProbe[] = [];
  for (const device of candidates()) {
    if (device === 'cpu') {
      results.push({ device, available: true, gflops: round(cpuSpeed.gflops), bulkGflops: round(cpuSpeed.bulkGflops), f16: true });
      continue;
    }
    if (!backends.has(device) || (device === 'cuda' && !cudaInstalled())) {
      results.push({ device, available: false, reason: notBundledReason(device), ...(device === 'cuda' && backends.has(device) ? { setup: 'npm run setup:cuda' } : {}) });
      continue;
    }
    // In a child process: what the provider's native code prints is captured, not shown.
    const run = await probeInChild(
      device,
      {
        check: { model: checkModel(), input: CHECK_INPUT, dims: [4, 8] },
        speed: { model: speedModel(), input: probeInputs().speed, dims: [M, K] },
        half: { model: halfModel(), input: CHECK_INPUT, dims: [4, 8] },
        bulk: { model: speedModel(), input: probeInputs().bulk, dims: [BULK_ROWS, K] },
      },
      { flop: CHAIN_FLOP, bulkFlop: BULK_FLOP, bulkMinGflops: BULK_MIN_GFLOPS, threads: defaultThreads() },
    );
    const failed = (why: string) => results.push({ device, available: false, reason: nativeReason(run.stderr) ?? why });
    if (!run.check) {
      failed(run.crashed ?? startFailure(run.error ?? 'no result'));
      continue;
    }
    const err = maxAbs(run.check, reference);
    if (!(err < 1e-3)) {
      results.push({ device, available: false, reason: `its results differ from the CPU's (max error ${err.toExponential(1)})` });
      continue;
    }
    if (!run.speed) {
      failed(run.crashed ?? startFailure(run.error ?? 'no result'));
      continue;
    }
    // Loose: GPUs may multiply in TF32 or another order; a broken kernel is far off.
    const rel = maxAbs(run.speed.out, cpuSpeed.out) / Math.max(1e-6, maxAbs(cpuSpeed.out, new Float32Array(cpuSpeed.out.length)));
    const f16 = run.half !== undefined && maxAbs(run.half, CHECK_INPUT) < 1e-3;
    const bulk = run.speed.bulkGflops !== undefined ? { bulkGflops: round(run.speed.bulkGflops) } : {};
    results.push(rel < 1e-2 ? { device, available: true, gflops: round(run.speed.gflops), ...bulk, f16 } : { device, available: false, reason: `its matrix products differ from the CPU's (relative error ${rel.toExponential(1)})` });
  }
  return results;
}

const round = (x: number) => Math.round(x * 10) / 10;

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
  if (device === 'cuda') return 'NVIDIA GPU support is not installed with this copy of Attune';
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

// ------------------------------------------------------------------ choosing

/**
 * What the device will mostly do: `chat` (one token at a time, latency-bound: the small probe) or
 * `training` (micro-batches of thousands of tokens: the training-sized probe where both have it).
 */
export type Workload = 'chat' | 'training';

/** The automatic choice from probe results: the fastest GPU that passed, if clearly faster. */
export function chooseDevice(probes: DeviceProbe[], workload: Workload = 'chat'): ResolvedDeviceInfo {
  const cpu = probes.find((p) => p.device === 'cpu');
  const bulk = workload === 'training' && cpu?.bulkGflops !== undefined;
  const speed = (p: DeviceProbe | undefined) => (bulk ? (p?.bulkGflops ?? p?.gflops) : p?.gflops);
  const gpus = probes.filter((p) => p.device !== 'cpu' && p.available && speed(p) !== undefined).sort((a, b) => speed(b)! - speed(a)!);
  if (gpus.length === 0) {
    const failed = probes.filter((p) => p.device !== 'cpu' && !p.available);
    const why = failed.map((p) => `${SHORT_LABELS[p.device]}: ${p.reason}`).join('; ');
    return { device: 'cpu', reason: failed.length ? `no GPU passed the check (${why})` : 'no GPU provider exists on this system' };
  }
  const best = gpus[0];
  const label = SHORT_LABELS[best.device];
  const test = bulk ? 'a speed test sized like training' : 'a speed test';
  const speeds = `${fmt(speed(best)!)} against ${fmt(speed(cpu) ?? 0)} billion calculations a second`;
  if (!speed(cpu) || speed(best)! >= GPU_ADVANTAGE * speed(cpu)!) {
    return { device: best.device, reason: `${label} passed the check and was faster than the CPU on ${test} (${speeds})` };
  }
  return { device: 'cpu', reason: `${label} works but was not clearly faster than the CPU on ${test} (${speeds})` };
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toPrecision(2));

export async function resolveDevice(choice: DeviceChoice, workload: Workload = 'chat'): Promise<ResolvedDeviceInfo> {
  if (choice === 'cpu') return { device: 'cpu', reason: 'you chose the CPU' };
  const probes = await probeDevices();
  if (choice === 'auto') return chooseDevice(probes, workload);
  const p = probes.find((x) => x.device === choice);
  if (p?.available) return { device: choice, reason: `you chose ${DEVICE_LABELS[choice]}` };
  return { device: 'cpu', reason: `${DEVICE_LABELS[choice]} is not usable here (${p?.reason ?? 'not available on this system'})` };
}

// ------------------------------------------------------------------ results found elsewhere

/**
 * What to assume when the probe itself could not finish (its process crashed or hung): the CPU
 * only, with `reason` on every GPU provider this platform could have.
 */
export function fallbackProbes(reason: string): DeviceProbe[] {
  return candidates().map((device) => (device === 'cpu' ? { device, available: true, f16: true } : { device, available: false, reason }));
}

/**
 * Keeps probe results found in another process (the app probes in a child so a crashing driver
 * cannot take its window) as this process's, and in the cache for `days` (at most a week).
 */
export async function rememberProbes(probes: DeviceProbe[], opts: { days?: number } = {}): Promise<void> {
  const key = machineKey();
  const file = cacheFile();
  inMemory = { key, file, probes };
  const days = Math.min(CACHE_DAYS, opts.days ?? CACHE_DAYS);
  try {
    await mkdir(path.dirname(file), { recursive: true });
    // Dated back so that it expires after `days` under the usual week.
    await writeTextAtomic(file, JSON.stringify({ key, probedAt: Date.now() - (CACHE_DAYS - days) * 86_400_000, probes }, null, 1));
  } catch {
    // a read-only cache folder only costs a probe next time
  }
}
