/**
 * Entry of the device-probe process (built to out/main/probe-worker.js). Probing loads GPU
 * drivers, and a broken driver can crash the process that loads it: the app probes here, in a
 * child, so that only this process goes down (src/main/services/device-probe.ts).
 */
import { probeDevices } from '../../engine/index.js';
import type { ProbeMessage } from '../services/device-probe.js';

function post(m: ProbeMessage): Promise<void> {
  const pp = (process as unknown as { parentPort?: { postMessage(m: unknown): void } }).parentPort;
  if (pp) {
    pp.postMessage(m);
    return new Promise((resolve) => setTimeout(resolve, 50));
  }
  return new Promise((resolve) => (process.send && process.connected ? process.send(m, undefined, undefined, () => resolve()) : resolve()));
}

probeDevices({ fresh: process.env['ATTUNE_PROBE_FRESH'] === '1' }).then(
  (probes) => post({ type: 'probes', probes }),
  (err: unknown) => post({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
).finally(() => process.exit(0));
