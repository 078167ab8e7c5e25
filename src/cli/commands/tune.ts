import { Option, type Command } from 'commander';
import { AttuneError } from '../../shared/errors.js';
import { printJson } from '../output.js';
import { intArg, numberArg } from '../args.js';

const TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];

function targetList(value: string): string[] {
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.filter((t) => !TARGETS.includes(t));
  if (bad.length || !list.length) throw new Error(`--target takes a comma-separated list of ${TARGETS.join(', ')}`);
  return list;
}

function trainTokensArg(value: string): 'auto' | 'none' | number[] {
  if (value === 'auto' || value === 'none') return value;
  const ids = value.split(',').map((s) => Number(s.trim()));
  if (ids.some((x) => !Number.isInteger(x) || x < 0)) throw new Error('--train-tokens takes auto, none, or a comma-separated list of token ids');
  return ids;
}

export function registerTuneCommand(program: Command): void {
  program
    .command('tune')
    .description('Teach a model your examples (LoRA instruction tuning). Progress is saved; a stopped run can be resumed.')
    .option('--model <path>', 'base model folder or .gguf file')
    .option('--data <file>', 'examples (JSONL, JSON, CSV, TSV, XLSX, ...)')
    .option('--out <runDir>', 'folder for this run (config, metrics, checkpoints, adapter)')
    .option('--resume <runDir>', 'continue a stopped run from its last checkpoint')
    .option('--epochs <n>', 'passes over the data', intArg('--epochs', 1))
    .option('--max-steps <n>', 'stop after this many optimizer steps', intArg('--max-steps', 1))
    .option('--lr <x>', 'peak learning rate', numberArg('--lr', 0))
    .addOption(new Option('--lr-schedule <s>', 'learning-rate schedule after warmup').choices(['cosine', 'linear', 'constant']))
    .option('--warmup-steps <n>', 'steps of linear warmup', intArg('--warmup-steps', 0))
    .option('--weight-decay <w>', 'AdamW weight decay', numberArg('--weight-decay', 0))
    .option('--rank <r>', 'LoRA rank', intArg('--rank', 1))
    .option('--alpha <a>', 'LoRA alpha (default 2 x rank)', numberArg('--alpha', 0))
    .option('--lora-dropout <d>', 'LoRA dropout (0 = off)', numberArg('--lora-dropout', 0, 0.9))
    .option('--target <list>', `projections to adapt (${TARGETS.join(',')})`, targetList)
    .option('--batch-size <b>', 'examples per micro-batch', intArg('--batch-size', 1))
    .option('--grad-accum <g>', 'micro-batches per optimizer step', intArg('--grad-accum', 1))
    .option('--max-length <l>', 'longest example in tokens; longer ones are left out', intArg('--max-length', 8))
    .option('--seed <s>', 'random seed (same seed and data give the same run)', intArg('--seed', 0))
    .option('--val-fraction <f>', 'share of examples held out for validation', numberArg('--val-fraction', 0, 0.9))
    .option('--eval-every <n>', 'validate every N steps (0 = at the end)', intArg('--eval-every', 0))
    .option('--early-stopping-patience <p>', 'stop after P validations without improvement (0 = off)', intArg('--early-stopping-patience', 0))
    .option('--init-adapter <dir>', 'start from an existing adapter')
    .option('--template <name>', 'chat template: model, alpaca, chatml, llama3')
    .option('--train-tokens <auto|none|ids>', 'also train these token rows (auto: untrained tokens the template uses)', trainTokensArg)
    .option('--checkpoint-minutes <m>', 'minutes between checkpoints', numberArg('--checkpoint-minutes', 0))
    .option('--threads <n>', 'CPU threads', intArg('--threads', 1))
    .addOption(new Option('--device <device>', 'where to run').choices(['auto', 'cpu', 'webgpu', 'cuda', 'dml']))
    .addOption(new Option('--base-weights <storage>', 'store the frozen model as f32 (exact) or f16/int8/int4 (less memory)').choices(['f32', 'f16', 'int8', 'int4']))
    .option('--recompute-activations', 'recompute each layer in the backward pass: far less memory for about a third more time')
    .addOption(new Option('--method <m>', 'sft: learn the answers; dpo: prefer "chosen" over "rejected" answers, from the starting point (--init-adapter); orpo: both at once, from the base').choices(['sft', 'dpo', 'orpo']))
    .option('--beta <b>', "DPO's beta, or ORPO's weight of the preference term (default 0.1)", numberArg('--beta', 0))
    .option('--json', 'print progress events as JSON lines')
    .action(async (o) => {
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
          if (!o[need]) throw new AttuneError('usage', `attune tune needs --${need} (or --resume <runDir>).`);
        }
        result = await runTuning(
          {
            model: o.model, data: o.data, out: o.out, epochs: o.epochs, maxSteps: o.maxSteps, lr: o.lr, lrSchedule: o.lrSchedule,
            warmupSteps: o.warmupSteps, weightDecay: o.weightDecay, rank: o.rank, alpha: o.alpha, loraDropout: o.loraDropout,
            targets: o.target, batchSize: o.batchSize, gradAccum: o.gradAccum, maxLength: o.maxLength, seed: o.seed,
            valFraction: o.valFraction, evalEvery: o.evalEvery, earlyStoppingPatience: o.earlyStoppingPatience,
            initAdapter: o.initAdapter, template: o.template, trainTokens: o.trainTokens, checkpointMinutes: o.checkpointMinutes,
            device: o.device, threads: o.threads, baseStorage: o.baseWeights, recomputeActivations: o.recomputeActivations,
            method: o.method, beta: o.beta,
          },
          { onEvent: progress, signal: controller.signal },
        );
      }
      if (!o.json) {
        const why = { finished: 'finished', 'max-steps': 'reached --max-steps', 'early-stopping': 'validation loss stopped improving', cancelled: 'cancelled; resume with --resume' }[result.stoppedBecause];
        process.stdout.write(`\nDone after ${result.steps} steps (${why}). Adapter: ${result.adapterDir}` +
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
      const r = e.report as { counts: { imported: number; rejected: number } };
      process.stdout.write(`Data: ${r.counts.imported} examples imported, ${r.counts.rejected} left out.\n`);
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
