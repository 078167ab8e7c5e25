import type { Command } from 'commander';
import { formatBytes, formatCount, printJson } from '../output.js';
import { registerModelSourceCommands } from './models-sources.js';

export function registerModelCommands(program: Command): void {
  const models = program.command('models').description('Look at base models.');
  registerModelSourceCommands(models);
  models
    .command('inspect <path>')
    .description('Architecture, size, context length, chat template and memory needs of a model folder or GGUF file.')
    .option('--json', 'machine-readable output')
    .action(async (modelPath: string, opts: { json?: boolean }) => {
      const { inspectModel } = await import('../../engine/index.js');
      const r = await inspectModel(modelPath);
      if (opts.json) return printJson(r);
      const m = r.memory;
      const lines = [
        `Model:           ${r.path} (${r.source === 'gguf' ? 'GGUF file' : 'Hugging Face folder'})`,
        `Architecture:    ${r.architecture}, ${r.layers} layers, hidden size ${r.hiddenSize}`,
        `Parameters:      ${formatCount(r.parameters)} (${r.parameters.toLocaleString('en-US')})`,
        `Stored as:       ${r.dtype}`,
        `Context length:  ${r.contextLength.toLocaleString('en-US')} tokens`,
        `Vocabulary:      ${r.vocabSize.toLocaleString('en-US')} tokens`,
        `Chat template:   ${r.hasChatTemplate ? 'yes' : 'no (choose one with --template when tuning)'}`,
        `Stops at:        ${r.stopTokens.join(', ') || '(no stop token found)'}`,
        r.untrainedTokens.length
          ? `Untrained:       ${r.untrainedTokens.map((t) => t.token).join(', ')} — this model never learned ${r.untrainedTokens.length === 1 ? 'this token' : 'these tokens'}, which ${r.untrainedTokens.length === 1 ? 'its' : 'their'} chat template needs (for example to end an answer); Attune will teach ${r.untrainedTokens.length === 1 ? 'it' : 'them'} while tuning.`
          : `Untrained:       none (the tokens the chat template uses look trained)`,
        `Memory to chat:  about ${formatBytes(m.inferenceBytes)}${m.fitsInference ? '' : ' — more than this machine can spare'}`,
        `Memory to tune:  about ${formatBytes(m.tuningBytes)}${m.fitsTuning ? '' : ' — more than this machine can spare'} (this machine has ${formatBytes(m.machineBytes)});` +
          ` with --base-storage int8 about ${formatBytes(m.tuningBytesByStorage.int8)}, int4 about ${formatBytes(m.tuningBytesByStorage.int4)}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
