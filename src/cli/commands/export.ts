import { Option, type Command } from 'commander';
import { AttuneError } from '../../shared/errors.js';
import { EXPORT_FORMATS } from '../../shared/formats.js';
import { formatBytes, printJson } from '../output.js';


export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('Export a tuned model: the PEFT adapter, a merged Hugging Face folder, or a GGUF file with an Ollama Modelfile.')
    .requiredOption('--model <path>', 'base model folder or .gguf file')
    .option('--adapter <dir>', 'LoRA adapter folder from `attune tune` (required for peft)')
    .addOption(new Option('--format <format>', 'what to write').choices(EXPORT_FORMATS).makeOptionMandatory())
    .requiredOption('--out <path>', 'folder to create')
    .option('--system <text>', 'system prompt for the Ollama Modelfile (gguf formats)')
    .addOption(new Option('--dtype <type>', 'merged: weight type (default: the base model\'s)').choices(['F32', 'F16', 'BF16']))
    .option('--force', 'replace --out if it exists')
    .option('--json', 'print progress events and the result as JSON lines')
    .action(async (o) => {
      const { exportModel } = await import('../../engine/index.js');
      const progress = o.json ? (p: unknown) => printJson({ type: 'progress', ...(p as object) }) : terminalBar();
      const r = await exportModel({
        modelPath: o.model, adapterDir: o.adapter, format: o.format, out: o.out, force: o.force === true, system: o.system, dtype: o.dtype,
        onProgress: progress,
      }).catch((e: Error & { code?: string }) => {
        // The engine's words are for the app too; name the flag here.
        if (e?.code === 'export-exists') throw new AttuneError('cli.export-exists', { out: o.out }, { file: o.out });
        if (e?.code === 'export-adapter-missing') throw new AttuneError('cli.export-adapter-missing', {}, { field: 'adapter' });
        throw e;
      });
      if (o.json) {
        printJson({ type: 'result', ...r });
        return;
      }
      process.stdout.write(`Exported ${r.format} to ${r.out}\n`);
      for (const f of r.files) process.stdout.write(`  ${f.name}  ${formatBytes(f.bytes)}\n`);
      if (r.template) process.stdout.write(`Chat template: ${r.template === 'model' ? "the model's own" : r.template}${r.ollamaTemplate ? ` (Ollama TEMPLATE: ${r.ollamaTemplate})` : ''}\n`);
      for (const w of r.warnings) process.stdout.write(`Note: ${w}\n`);
    });
}

const LABEL: Record<string, string> = { load: 'Loading', merge: 'Merging adapter', convert: 'Converting weights', write: 'Writing files', done: 'Done' };

/** One redrawn line on a terminal; a line per phase otherwise. */
function terminalBar() {
  const tty = process.stderr.isTTY;
  let last = '';
  let lastDraw = 0;
  return (p: { phase: string; done: number; total: number }) => {
    const label = LABEL[p.phase] ?? p.phase;
    if (!tty) {
      if (p.phase !== last && p.phase !== 'done') process.stderr.write(`${label}...\n`);
      last = p.phase;
      return;
    }
    const now = Date.now();
    if (p.phase === last && p.done !== p.total && now - lastDraw < 100) return;
    lastDraw = now;
    const width = 24;
    const filled = p.total ? Math.round((p.done / p.total) * width) : 0;
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${label} ${p.done}/${p.total}`;
    process.stderr.write(`${p.phase !== last && last ? '\n' : '\r'}${line}`);
    if (p.phase === 'done') process.stderr.write('\n');
    last = p.phase;
  };
}
