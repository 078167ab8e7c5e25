import type { Command } from 'commander';
import { AttuneError } from '../../shared/errors.js';
import { printJson } from '../output.js';
import { addSettingOptions, settingsFromOptions } from '../settings-options.js';

export function registerTuneCommand(program: Command): void {
  const tune = program
    .command('tune')
    .description('Teach a model your examples (LoRA instruction tuning, or preference tuning with --method dpo|orpo). Progress is saved; a stopped run can be resumed.')
    .option('--model <path>', 'base model folder or .gguf file')
    .option('--data <file>', 'examples (JSONL, JSON, CSV, TSV, XLSX, ...)')
    .option('--out <runDir>', 'folder for this run (config, metrics, checkpoints, adapter)')
    .option('--resume <runDir>', 'continue a stopped run from its last checkpoint')
    .option('--drop-near-duplicates', 'also leave out examples almost the same as an earlier one (by default they are kept, with a warning)')
    .option('--json', 'print progress events as JSON lines')
    .option('--estimate', 'time a few real training steps on this computer with these settings and print the time for one pass over the data; does not tune');
  // One option per tuning setting, from the settings table.
  addSettingOptions(tune).action(async (o) => {
    if (o.estimate) return (await import('./tune-estimate.js')).printTuneEstimate(o);
    const { runTuning, resumeTuning } = await import('../../engine/index.js');
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    process.once('SIGTERM', () => controller.abort());
    const progress = o.json ? (e: unknown) => printJson(e) : terminalProgress();
    let result;
    if (o.resume) {
      result = await resumeTuning(o.resume, { onEvent: progress, signal: controller.signal, threads: o.threads });
    } else {
      for (const need of ['model', 'data', 'out'] as const) {
        if (!o[need]) throw new AttuneError('cli.tune-needs', { option: need });
      }
      result = await runTuning({ model: o.model, data: o.data, out: o.out, ...settingsFromOptions(o), dropNearDuplicates: o.dropNearDuplicates },
        { onEvent: progress, signal: controller.signal },
      );
    }
    if (o.json) {
      printJson({ type: 'result', steps: result.steps, stoppedBecause: result.stoppedBecause, stopExplanation: result.stopExplanation, adapterDir: result.adapterDir, bestStep: result.bestStep, bestValLoss: result.bestValLoss, finalLoss: result.finalLoss });
    } else {
      process.stdout.write(`\nStopped after ${result.steps} steps because ${result.stopExplanation}. Adapter: ${result.adapterDir}` +
        (result.bestStep !== null ? ` (best validation loss ${result.bestValLoss?.toFixed(4)} at step ${result.bestStep})` : '') + '\n');
    }
  });
}

/** A one-line progress bar with ETA on a terminal; plain lines otherwise. */
function terminalProgress() {
  const tty = process.stdout.isTTY;
  let lastPrint = 0;
  return (e: { type: string } & Record<string, unknown>) => {
    if (e.type === 'data') {
      const r = e.report as { counts: { imported: number; rejected: number; nearDuplicates: number; rejectedBy: Record<string, number> }; problems: { code: string; message: string }[] };
      process.stdout.write(`Data: ${r.counts.imported} examples imported, ${r.counts.rejected} left out.\n`);
      const nearKept = r.counts.nearDuplicates - (r.counts.rejectedBy['data.near-duplicate-dropped'] ?? 0);
      if (nearKept > 0) {
        const first = r.problems.find((p) => p.code === 'data.near-duplicate');
        process.stdout.write(`Warning: ${nearKept} examples are almost the same as an earlier one and were kept${first ? `, for example: ${first.message}` : ''} (list them all with "attune data check").\n`);
      }
    } else if (e.type === 'tokens') {
      process.stdout.write(`Also training token rows ${(e.tokens as string[]).join(', ')}: ${String(e.reason)}.\n`);
    } else if (e.type === 'start') {
      process.stdout.write(`Tuning on ${String(e.device)}: ${String(e.trainExamples)} training and ${String(e.valExamples)} validation examples, ${String(e.totalSteps)} steps.\n`);
    } else if (e.type === 'step') {
      const now = Date.now();
      const step = e.step as number;
      const total = e.totalSteps as number;
      if (tty && now - lastPrint < 200 && step !== total) return;
      lastPrint = now;
      const width = 24;
      const filled = Math.round((step / total) * width);
      const rw = e.rewards as { reward_margin: number; reward_accuracy: number } | undefined;
      const pref = rw ? `  margin ${rw.reward_margin.toFixed(3)}  preferred ${Math.round(rw.reward_accuracy * 100)}%` : '';
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] step ${step}/${total}  loss ${(e.loss as number).toFixed(4)}${pref}  ${Math.round(e.tokensPerSecond as number)} tok/s  ETA ${formatDuration(e.etaSeconds as number)}`;
      process.stdout.write(tty ? `\r${line}` : `${line}\n`);
    } else if (e.type === 'eval') {
      process.stdout.write(`${tty ? '\n' : ''}validation loss at step ${String(e.step)}: ${(e.valLoss as number).toFixed(4)}${e.best ? ' (best so far)' : ''}\n`);
    }
  };
}

function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}
