import type { Command } from 'commander';
import { printJson } from '../output.js';
import { intArg } from '../args.js';

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('Compare the base and the tuned model on held-out examples: loss, perplexity, and answers side by side.')
    .requiredOption('--model <path>', 'base model')
    .requiredOption('--adapter <dir>', 'tuned adapter')
    .option('--data <file>', "examples (default: the run's own data when the adapter is in a run folder)")
    .option('--n <n>', 'held-out examples to answer', intArg('--n', 1), 20)
    .option('--max-tokens <n>', 'longest answer', intArg('--max-tokens', 1), 256)
    .option('--json', 'machine-readable output')
    .action(async (o) => {
      const { reviewAdapter } = await import('../../engine/index.js');
      const r = await reviewAdapter({
        modelPath: o.model, adapterDir: o.adapter, data: o.data, n: o.n, maxTokens: o.maxTokens,
        onProgress: o.json || !process.stderr.isTTY ? undefined : (d, t) => process.stderr.write(`\rReviewing ${d}/${t}`),
      });
      if (o.json) return printJson(r);
      if (process.stderr.isTTY) process.stderr.write('\n');
      const out: string[] = [
        `Held-out examples: ${r.heldOutExamples}`,
        `Validation loss:   base ${r.base.loss.toFixed(4)} (perplexity ${r.base.perplexity.toFixed(2)})   tuned ${r.tuned.loss.toFixed(4)} (perplexity ${r.tuned.perplexity.toFixed(2)})`,
        `Similarity to the expected answer (${r.metric}, 0-1): base ${r.average.base.toFixed(3)}   tuned ${r.average.tuned.toFixed(3)}`,
        '',
      ];
      r.samples.forEach((s, i) => {
        out.push(`--- ${i + 1}. ${s.prompt[s.prompt.length - 1].content.split('\n')[0]}`);
        out.push(`expected: ${s.expected.replace(/\n/g, ' ')}`);
        out.push(`base     (${s.baseScore.toFixed(2)}): ${s.base.replace(/\n/g, ' ')}`);
        out.push(`tuned    (${s.tunedScore.toFixed(2)}): ${s.tuned.replace(/\n/g, ' ')}`);
        out.push('');
      });
      process.stdout.write(out.join('\n'));
    });
}
