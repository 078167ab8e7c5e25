import type { Command } from 'commander';
import { printJson } from '../output.js';

export function registerDevicesCommand(program: Command): void {
  program
    .command('devices')
    .description('Which processors Attune can use on this machine, how fast, and why not when it cannot.')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const { probeDevices, chooseDevice, DEVICE_LABELS } = await import('../../engine/index.js');
      const probes = await probeDevices({ fresh: true });
      const auto = chooseDevice(probes, 'training');
      const autoChat = chooseDevice(probes, 'chat');
      if (o.json) return printJson({ devices: probes, auto, autoChat });
      for (const p of probes) {
        const bulk = p.bulkGflops !== undefined ? `; sized like training: ${Math.round(p.bulkGflops)}` : '';
        const detail = p.available ? (p.gflops !== undefined ? ` — speed test: ${Math.round(p.gflops)} billion calculations a second${bulk}` : '') : ` — ${p.reason}`;
        process.stdout.write(`${p.available ? 'yes' : 'no '}  ${DEVICE_LABELS[p.device]}${detail}\n`);
        if (!p.available && p.setup) process.stdout.write(`     To add it on a machine that has one: ${p.setup}\n`);
      }
      process.stdout.write(`\nAutomatic choice for tuning: ${DEVICE_LABELS[auto.device]}, because ${auto.reason}.\n`);
      process.stdout.write(`Automatic choice for chat: ${DEVICE_LABELS[autoChat.device]}, because ${autoChat.reason}.\n`);
    });
}
