/**
 * ONNX Runtime sessions on the chosen execution provider. Everything that touches
 * onnxruntime-node's session API goes through here.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';

import { writeDirAtomic } from '../util/atomic.js';
import { cacheKey, cacheRoot } from './cache.js';
import { markUsed, pruneCache } from './cache-prune.js';

import type { DeviceChoice, DeviceName } from '../../shared/devices.js';

export type { DeviceChoice };
export type ResolvedDevice = DeviceName;

export interface SessionOptions {
  device?: ResolvedDevice;
  /** Intra-op threads; defaults to the number of physical-ish cores. */
  threads?: number;
  /**
   * ORT's memory pattern plans buffers from the first run's shapes; with our symbolic batch and
   * sequence dims it only keeps large blocks alive. Off (default) cut the training step's peak
   * RSS by about a third with no loss of speed (measured on a 4-layer SmolLM2-shaped step).
   */
  memoryPattern?: boolean;
  /**
   * ORT's CPU memory arena (default on): it keeps every buffer it grew for reuse, fastest for
   * steps that allocate many mid-sized buffers, but it holds far more than the live tensors.
   */
  cpuArena?: boolean;
  /**
   * Keep ORT's optimised form of a model file in the cache (`optimizedModelPath`) and start from
   * it next time, skipping the graph optimisations. For models in the graph cache.
   */
  optimizedCache?: boolean;
  /**
   * Let kernels repack constant weights at session start (default on). Repacking pays off when a
   * weight is multiplied by few rows at a time (decoding a token); a training step multiplies it
   * by thousands, where packing on the fly costs little. Measured on the 135M bench shape
   * (bench/RESULTS.md): training-session start 30.7 -> 15.4 s (30 layers) and 10.5 -> 1.2-2.3 s
   * (8 layers), 1.1 GB less at start (the LM head was packed once per loss chunk), steps as fast.
   */
  prepack?: boolean;
}

export function defaultThreads(): number {
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

export async function createSession(model: string | Uint8Array, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const device = opts.device ?? 'cpu';
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: device === 'cpu' ? ['cpu'] : [device, 'cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: opts.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableMemPattern: opts.memoryPattern ?? false,
    // Errors reach the caller as exceptions; ORT's warnings (e.g. one line per deliberately
    // unfolded F16 weight, node placement notes) would only flood the user's terminal.
    logSeverityLevel: 3,
    enableCpuMemArena: opts.cpuArena ?? true,
    ...(opts.prepack === false ? { extra: { session: { disable_prepacking: '1' } } } : {}),
  };
  if (typeof model !== 'string') return ort.InferenceSession.create(model, options);
  // Optimised graphs for GPU providers are not portable (ORT's advice): the CPU only. The copy
  // holds the weights again, packed: for big models the disk it takes outweighs the second saved.
  if (!opts.optimizedCache || device !== 'cpu' || dataBytes(model) > OPTIMIZED_CACHE_MAX_BYTES) return ort.InferenceSession.create(model, options);
  return createCachedSession(model, options, device);
}

const OPTIMIZED_DATA = 'model.onnx.data';
/** Graphs with more weight data than this are not copied into the optimised-model cache. */
const OPTIMIZED_CACHE_MAX_BYTES = 2 * 2 ** 30;

function dataBytes(modelPath: string): number {
  const f = `${modelPath}.data`;
  return existsSync(f) ? statSync(f).size : 0;
}

/**
 * Where ORT's optimised copy of `modelPath` is (or would be) cached. Keyed by the model file's
 * identity (path, size, modification time), the runtime's version, the provider and the CPU's
 * SIMD flags: the optimised graph holds provider- and CPU-specific fused nodes.
 */
export function optimizedModelPath(modelPath: string, device: ResolvedDevice): string {
  const id = (f: string) => (existsSync(f) ? (({ size, mtimeMs }) => ({ size, mtimeMs }))(statSync(f)) : null);
  const key = cacheKey({
    optimized: path.resolve(modelPath), model: id(modelPath), data: id(`${modelPath}.data`), device,
    ort: ort.env.versions?.node ?? ort.env.versions?.common, cpu: cpuFlags(),
  });
  return path.join(cacheRoot(), 'optimized', key, 'model.onnx');
}

/**
 * A session from the cached optimised model when there is one (optimisations off: they ran when
 * it was saved), else from `modelPath`, saving the optimised model on the way (a temporary folder
 * renamed into place, so a crash leaves nothing half written). A cache that cannot be written
 * (a full disk, a read-only folder) only costs the saving: the session starts from `modelPath`.
 */
async function createCachedSession(modelPath: string, options: ort.InferenceSession.SessionOptions, device: ResolvedDevice): Promise<ort.InferenceSession> {
  const cached = optimizedModelPath(modelPath, device);
  if (existsSync(cached) && existsSync(path.join(path.dirname(cached), 'done'))) {
    markUsed(path.dirname(cached));
    return ort.InferenceSession.create(cached, { ...options, graphOptimizationLevel: 'disabled' });
  }
  let session: ort.InferenceSession | undefined;
  try {
    await writeDirAtomic(path.dirname(cached), async (tmp) => {
      session = await ort.InferenceSession.create(modelPath, {
        ...options,
        optimizedModelFilePath: path.join(tmp, 'model.onnx'),
        extra: {
          ...options.extra,
          session: {
            ...(options.extra as { session?: Record<string, string> } | undefined)?.session,
            // Weights in a data file beside it (a protobuf holds at most 2 GB); small tensors stay
            // inline (ORT must read shape-like ones, e.g. Split's sizes, when it loads the file).
            optimized_model_external_initializers_file_name: OPTIMIZED_DATA,
            optimized_model_external_initializers_min_size_in_bytes: String(1 << 20),
            // The kernels' packed weights go into the data file too: the next start maps them
            // instead of packing again (the 135M chat model: 2.9 -> 1.3 s of CPU time to start).
            save_external_prepacked_constant_initializers: '1',
          },
        },
      });
      await writeFile(path.join(tmp, 'done'), '');
    });
    pruneCache(cacheRoot(), path.dirname(cached));
  } catch {
    // Saving failed; if the model itself is at fault, the plain start below says so.
  }
  return session ?? ort.InferenceSession.create(modelPath, options);
}

let flagsMemo: string | undefined;
function cpuFlags(): string {
  if (flagsMemo !== undefined) return flagsMemo;
  let flags = '';
  try {
    flags = /^(?:flags|Features)\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    /* not Linux */
  }
  flagsMemo = `${os.arch()} ${os.cpus()[0]?.model ?? ''} ${flags}`;
  return flagsMemo;
}

export function floatTensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export function int64Tensor(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  const arr = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) arr[i] = BigInt(values[i]);
  return new ort.Tensor('int64', arr, dims);
}

export function int32Tensor(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  return new ort.Tensor('int32', Int32Array.from(values), dims);
}

export type Tensor = ort.Tensor;
export type Session = ort.InferenceSession;
