/**
 * A stand-alone `attune data ...` for end-to-end tests of the data commands through a real
 * process (the same edge as src/cli/main.ts: one plain line and exit 1 on errors).
 * Run: npx tsx tests/engine/data/tools/data-cli.ts data check <file> [options]
 */
import { Command, CommanderError } from 'commander';
import { registerDataCommands } from '../../../../src/cli/commands/data.js';
import { failAndExit } from '../../../../src/cli/output.js';

const argv = process.argv.slice(2);
const program = new Command('attune').exitOverride();
registerDataCommands(program);
try {
  await program.parseAsync(argv, { from: 'user' });
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : err.exitCode || 2);
  failAndExit(err, argv.includes('--json'));
}
