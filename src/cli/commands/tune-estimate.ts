/** `attune tune --estimate`: a measured time for one pass over the data, from a short calibration. */
import { AttuneError } from '../../shared/errors.js';
import { printJson } from '../output.js';
import { formatDuration } from './models-sources.js';
import { settingsFromOptions } from '../settings-options.js';

export async function printTuneEstimate(o: any): Promise<void> {
  const { estimateTuneTime } = await import('../../engine/index.js');
  for (const need of ['model', 'data'] as const) {
    if (!o[need]) throw new AttuneError('cli.estimate-needs', { option: need });
  }
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  if (!o.json) process.stderr.write('Timing a few training steps on this computer with these settings…\n');
  const e = await estimateTuneTime(
    { model: o.model, data: o.data, ...settingsFromOptions(o) },
    { signal: controller.signal },
  );
  if (o.json) return printJson({ type: 'estimate', ...e });
  process.stdout.write(
    [
      `Measured on this computer (${e.device}): ${e.secondsPerStep.toFixed(2)} s per step (${e.calibrationSteps} steps timed after the first, ${Math.round(e.tokensPerSecond)} tokens/s).`,
      `One pass over your data (${e.trainExamples} examples, ${e.stepsPerEpoch} steps): about ${formatDuration(e.epochSeconds)}.`,
      `The whole run (${e.epochs} ${e.epochs === 1 ? 'pass' : 'passes'}, plus ${formatDuration(e.setupSeconds)} to get ready): about ${formatDuration(e.totalSeconds)}.`,
    ].join('\n') + '\n',
  );
}
