import { Option, type Command } from 'commander';
import { DEVICE_CHOICES } from '../../shared/devices.js';
import { AttuneError } from '../../shared/errors.js';
import { printJson } from '../output.js';
import { intArg, numberArg } from '../args.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Serve a model (and adapter) on 127.0.0.1 through an OpenAI-compatible API (/v1/chat/completions, /v1/models) until stopped with Ctrl+C.')
    .requiredOption('--model <path>', 'base model folder or .gguf file')
    .option('--adapter <dir>', 'LoRA adapter folder from `attune tune`')
    .option('--port <n>', 'port on 127.0.0.1', intArg('--port', 1, 65535), 8080)
    .option('--model-id <id>', 'the model name clients see (default: the run or model folder name)')
    .option('--temperature <t>', 'temperature when a request gives none (0 = deterministic)', numberArg('--temperature', 0, 2), 0)
    .option('--max-tokens <n>', 'longest answer when a request gives no max_tokens', intArg('--max-tokens', 1), 512)
    .option('--threads <n>', 'CPU threads', intArg('--threads', 1))
    .addOption(new Option('--device <device>', 'where to run').choices(DEVICE_CHOICES).default('auto'))
    .option('--json', 'print the address and one line per request as JSON')
    .action(async (o) => {
      const { startServer } = await import('../../engine/index.js');
      const server = await startServer({
        modelPath: o.model, adapterDir: o.adapter, port: o.port, modelId: o.modelId, defaultTemperature: o.temperature,
        defaultMaxTokens: o.maxTokens, threads: o.threads, device: o.device,
        onLog: (line) => (o.json ? printJson({ type: 'request', line }) : process.stdout.write(`${line}\n`)),
      }).catch((e: Error & { code?: string }) => {
        if (e?.code === 'serve-port-in-use') throw new AttuneError('cli.serve-port-in-use', { port: o.port }, { field: 'port' });
        throw e;
      });
      if (o.json) printJson({ type: 'listening', url: server.url, port: server.port, model: server.modelId });
      else {
        process.stdout.write(`Serving "${server.modelId}" at ${server.url} (OpenAI-compatible: POST /chat/completions, GET /models).\n`);
        process.stdout.write('Only programs on this computer can reach it. Stop with Ctrl+C.\n');
      }
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      if (o.json) printJson({ type: 'stopped' });
      else process.stdout.write('Stopped.\n');
    });
}
