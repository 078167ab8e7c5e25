/**
 * `attune` — the headless CLI over the engine. Commands lazy-import what they need, and every
 * error is caught once, in `run`, and printed as one plain line (or JSON with --json).
 */
import { Command, CommanderError } from 'commander';
import { failAndExit } from './output.js';
import { registerModelCommands } from './commands/models.js';
import { registerChatCommand } from './commands/chat.js';
import { registerTuneCommand } from './commands/tune.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerEvalCommand } from './commands/eval.js';
import { registerDevicesCommand } from './commands/devices.js';
import { registerDataCommands } from './commands/data.js';
import { registerExportCommand } from './commands/export.js';
import { registerServeCommand } from './commands/serve.js';

export function buildProgram(): Command {
  const program = new Command('attune')
    .description('Instruction-tune small language models on your own examples, fully offline.')
    .exitOverride();
  registerModelCommands(program);
  registerChatCommand(program);
  registerTuneCommand(program);
  registerDataCommands(program);
  registerExportCommand(program);
  registerServeCommand(program);
  registerEvalCommand(program);
  registerDevicesCommand(program);
  registerDemoCommand(program);
  return program;
}

async function run(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return; // --help, --version
      process.exit(err.exitCode || 2);
    }
    failAndExit(err, json);
  }
}

await run(process.argv.slice(2));
