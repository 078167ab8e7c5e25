/** Names of the processors work can run on, as the CLI and the app show them. */
export type DeviceName = 'cpu' | 'cuda' | 'webgpu' | 'dml';

export const DEVICE_LABELS: Record<DeviceName, string> = { cpu: 'CPU', cuda: 'NVIDIA GPU (CUDA)', webgpu: 'GPU (WebGPU)', dml: 'GPU (DirectML)' };

/** Short names, inside sentences that already say "GPU". */
export const DEVICE_SHORT_LABELS: Record<DeviceName, string> = { cpu: 'CPU', cuda: 'CUDA', webgpu: 'WebGPU', dml: 'DirectML' };
