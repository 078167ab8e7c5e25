import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { intArg } from '../args.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEMO_MODEL = process.env.ATTUNE_DEMO_MODEL ?? path.resolve(repoRoot, '../shared/models/stories260K-hf');
export const DEMO_DATA = path.join(repoRoot, 'resources/samples/customer-service.jsonl');

/**
 * The main job on the bundled defaults: tune the bundled tiny model on the bundled customer-
 * service sample, then answer a held-out question as the base model and as the tuned one.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Tune a small model on the bundled customer-service sample, then compare base and tuned answers.')
    .option('--model <path>', 'base model', DEMO_MODEL)
    .option('--data <file>', 'examples', DEMO_DATA)
    .option('--out <runDir>', 'run folder (default: runs/demo-<time>)')
    .option('--epochs <n>', 'passes over the data', intArg('--epochs', 1), 3)
    .action(async (o: { model: string; data: string; out?: string; epochs: number }) => {
      const { runTuning, ChatSession, readNormalizedJsonl, splitExamples } = await import('../../engine/index.js');
      const out = o.out ?? path.join(repoRoot, 'runs', `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      process.stdout.write(`Attune demo\n  model: ${o.model}\n  data:  ${o.data}\n  run:   ${out}\n\n`);
      let last = 0;
      const result = await runTuning(
        { model: o.model, data: o.data, out, epochs: o.epochs, learningRate: 2e-3, rank: 16, batchSize: 4, evalEvery: 50, earlyStopping: true, patience: 3, maxLength: 512 },
        {
          onEvent: (e) => {
            if (e.type === 'data') process.stdout.write(`Imported ${e.report.counts.imported} examples (${e.report.counts.rejected} left out).\n`);
            if (e.type === 'tokens') process.stdout.write(`Also teaching the model ${e.tokens.join(', ')}: ${e.reason}.\n`);
            if (e.type === 'start') process.stdout.write(`Tuning: ${e.totalSteps} steps on ${e.device}.\n`);
            if (e.type === 'step' && (e.step - last >= 25 || e.step === e.totalSteps)) {
              last = e.step;
              process.stdout.write(`  step ${e.step}/${e.totalSteps}  loss ${e.loss.toFixed(3)}  ${Math.round(e.tokensPerSecond)} tokens/s  about ${Math.round(e.etaSeconds)} s left\n`);
            }
            if (e.type === 'eval') process.stdout.write(`  validation loss ${e.valLoss.toFixed(3)} at step ${e.step}${e.best ? ' (best)' : ''}\n`);
          },
        },
      );
      process.stdout.write(`\nAdapter saved in ${result.adapterDir} (best validation loss ${result.bestValLoss?.toFixed(3)} at step ${result.bestStep}).\n`);
      // One held-out question, answered by the base model and by the tuned one.
      const examples = await readNormalizedJsonl(path.join(out, 'data.jsonl'));
      const { validation } = splitExamples(examples, { valFraction: 0.1, seed: 42 });
      const question = validation[0].messages.filter((m) => m.role !== 'assistant');
      const session = await ChatSession.open({ modelPath: o.model, adapterDir: result.adapterDir });
      try {
        const base = await session.generate(question, { maxTokens: 120, loraScale: 0 });
        const tuned = await session.generate(question, { maxTokens: 120, loraScale: 1 });
        process.stdout.write(`\nQuestion (held out):\n  ${question[question.length - 1].content.replace(/\n/g, '\n  ')}\n`);
        process.stdout.write(`\nBase model:\n  ${base.text.trim().replace(/\n/g, '\n  ')}\n\nTuned model:\n  ${tuned.text.trim().replace(/\n/g, '\n  ')}\n`);
      } finally {
        await session.close();
      }
    });
}
