/**
 * ONNX Runtime sessions on the chosen execution provider. Everything that touches
 * onnxruntime-node's session API goes through here.
 */
import os from 'node:os';
import ort from 'onnxruntime-node';

export type DeviceChoice = 'auto' | 'cpu' | 'webgpu' | 'cuda' | 'dml';
export type ResolvedDevice = Exclude<DeviceChoice, 'auto'>;

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
  };
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

export function floatTensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export function int64Tensor(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  const arr = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) arr[i] = BigInt(values[i]);
  return new ort.Tensor('int64', arr, dims);
}

export type Tensor = ort.Tensor;
export type Session = ort.InferenceSession;
