import { Option, type Command } from 'commander';
import { DEVICE_CHOICES } from '../../shared/devices.js';
import { TEMPLATE_NAMES } from '../../shared/templates.js';
import { printJson } from '../output.js';
import { numberArg, intArg } from '../args.js';

export function registerChatCommand(program: Command): void {
  program
    .command('chat')
    .description("Answer one prompt with a model (and optionally a tuned adapter), using the model's chat template.")
    .requiredOption('--model <path>', 'model folder or .gguf file')
    .option('--adapter <dir>', 'LoRA adapter folder from `attune tune`')
    .requiredOption('--prompt <text>', 'what to ask')
    .option('--system <text>', 'a system message placed before the prompt')
    .option('--template <name>', `chat template: model (its own), ${TEMPLATE_NAMES.join(', ')}`)
    .option('--max-tokens <n>', 'longest answer in tokens', intArg('--max-tokens', 1), 256)
    .option('--temperature <t>', '0 = always the most likely token (deterministic)', numberArg('--temperature', 0), 0)
    .option('--top-p <p>', 'sample from the smallest set of tokens whose probability reaches p', numberArg('--top-p', 0, 1), 1)
    .option('--top-k <k>', 'sample from the k most likely tokens (0 = all)', intArg('--top-k', 0), 0)
    .option('--repetition-penalty <r>', 'discourage repeating tokens (1 = off)', numberArg('--repetition-penalty', 0.01), 1)
    .option('--seed <s>', 'random seed for sampling', intArg('--seed', 0), 0)
    .option('--lora-scale <s>', '1 = tuned model, 0 = base model', numberArg('--lora-scale', 0), undefined)
    .addOption(new Option('--device <device>', 'where to run').choices(DEVICE_CHOICES).default('auto'))
    .option('--json', 'print {"text","tokens","promptTokens","tokensPerSecond"} instead of streaming')
    .action(async (o) => {
      const { ChatSession } = await import('../../engine/index.js');
      const session = await ChatSession.open({ modelPath: o.model, adapterDir: o.adapter, device: o.device, template: o.template });
      try {
        const messages = [
          ...(o.system ? [{ role: 'system' as const, content: o.system as string }] : []),
          { role: 'user' as const, content: o.prompt as string },
        ];
        const controller = new AbortController();
        process.once('SIGINT', () => controller.abort());
        const result = await session.generate(
          messages,
          {
            maxTokens: o.maxTokens,
            temperature: o.temperature,
            topP: o.topP,
            topK: o.topK,
            repetitionPenalty: o.repetitionPenalty,
            seed: o.seed,
            loraScale: o.loraScale,
          },
          { onText: o.json ? undefined : (d) => process.stdout.write(d), signal: controller.signal },
        );
        if (o.json) {
          printJson({ text: result.text, tokens: result.tokens, promptTokens: result.promptTokens, tokensPerSecond: result.tokensPerSecond, stoppedBy: result.stoppedBy });
        } else process.stdout.write('\n');
      } finally {
        await session.close();
      }
    });
}
