/** Names of the processors work can run on, as the CLI and the app show them. */
export const DEVICE_NAMES = ['cpu', 'cuda', 'webgpu', 'dml'] as const;
export type DeviceName = (typeof DEVICE_NAMES)[number];

/** What a person may choose: a processor, or 'auto' to let Attune pick the fastest that works. */
export const DEVICE_CHOICES = ['auto', ...DEVICE_NAMES] as const;
export type DeviceChoice = (typeof DEVICE_CHOICES)[number];

export const DEVICE_LABELS: Record<DeviceName, string> = { cpu: 'CPU', cuda: 'NVIDIA GPU (CUDA)', webgpu: 'GPU (WebGPU)', dml: 'GPU (DirectML)' };

/** Short names, inside sentences that already say "GPU". */
export const DEVICE_SHORT_LABELS: Record<DeviceName, string> = { cpu: 'CPU', cuda: 'CUDA', webgpu: 'WebGPU', dml: 'DirectML' };

export function isDeviceChoice(value: unknown): value is DeviceChoice {
  return typeof value === 'string' && (DEVICE_CHOICES as readonly string[]).includes(value);
}
