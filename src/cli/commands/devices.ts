import type { Command } from 'commander';
import { printJson } from '../output.js';

export function registerDevicesCommand(program: Command): void {
  program
    .command('devices')
    .description('Which processors Attune can use on this machine, and why not when it cannot.')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const { probeDevices, resolveDevice } = await import('../../engine/index.js');
      const probes = await probeDevices();
      const auto = await resolveDevice('auto');
      if (o.json) return printJson({ devices: probes, auto });
      const names: Record<string, string> = { cpu: 'CPU', cuda: 'NVIDIA GPU (CUDA)', webgpu: 'GPU (WebGPU)', dml: 'GPU (DirectML)' };
      for (const p of probes) process.stdout.write(`${p.available ? 'yes' : 'no '}  ${names[p.device] ?? p.device}${p.reason ? ` — ${p.reason}` : ''}\n`);
      process.stdout.write(`\nAutomatic choice: ${names[auto.device]} (${auto.reason}).\n`);
    });
}
