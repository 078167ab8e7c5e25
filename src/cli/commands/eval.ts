import type { Command } from 'commander';
import { printJson } from '../output.js';
import { intArg } from '../args.js';

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description("Compare the base and the tuned model on examples: loss, perplexity, and answers side by side. By default the run's held-out examples; with --data, every example of that file.")
    .requiredOption('--model <path>', 'base model')
    .requiredOption('--adapter <dir>', 'tuned adapter')
    .option('--data <file>', "examples to evaluate, all of them (default: the held-out part of the run's own data, when the adapter is in a run folder)")
    .option('--n <n>', 'with --data: how many of its examples (default all); otherwise how many held-out examples to answer (default 20)', intArg('--n', 1))
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
        r.examplesFrom === 'file' ? `Examples from ${r.dataFile}: ${r.heldOutExamples}` : `Held-out examples: ${r.heldOutExamples}`,
        `${r.examplesFrom === 'file' ? 'Loss:             ' : 'Validation loss:  '} base ${r.base.loss.toFixed(4)} (perplexity ${r.base.perplexity.toFixed(2)})   tuned ${r.tuned.loss.toFixed(4)} (perplexity ${r.tuned.perplexity.toFixed(2)})`,
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
