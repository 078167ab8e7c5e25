/**
 * `attune models pull` and `attune models list`: getting a base model and finding the ones
 * already on this computer.
 */
import type { Command } from 'commander';
import { formatBytes, printJson } from '../output.js';

export function registerModelSourceCommands(models: Command): void {
  models
    .command('pull <repo-id>')
    .description('Download a model from the Hugging Face Hub (HF_ENDPOINT, HF_TOKEN) into the Hugging Face cache; an interrupted download continues where it stopped.')
    .option('--revision <rev>', 'branch, tag or commit (default main)')
    .option('--json', 'machine-readable output')
    .action(async (repo: string, opts: { revision?: string; json?: boolean }) => {
      const { pullModel } = await import('../../engine/index.js');
      const tty = process.stderr.isTTY && !opts.json;
      let lastLine = 0;
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      const result = await pullModel({
        repo,
        revision: opts.revision,
        signal: controller.signal,
        onProgress: (p) => {
          if (opts.json) return;
          const now = Date.now();
          if (p.phase === 'downloading' && now - lastLine < (tty ? 200 : 5000)) return;
          lastLine = now;
          const pct = p.totalBytes ? Math.floor((p.doneBytes / p.totalBytes) * 100) : 0;
          const speed = p.bytesPerSecond ? `, ${formatBytes(p.bytesPerSecond)}/s` : '';
          const left = p.secondsLeft !== undefined ? `, ${formatDuration(p.secondsLeft)} left` : '';
          const what = p.phase === 'listing' ? `Asking for the file list of ${p.repo}…` : p.phase === 'done' ? `Downloaded ${p.repo}.` : `${p.phase === 'verifying' ? 'Checking' : 'Downloading'} ${p.file ?? ''} — ${formatBytes(p.doneBytes)} of ${formatBytes(p.totalBytes)} (${pct}%${speed}${left})`;
          process.stderr.write(tty ? `\r\x1b[K${what}` : `${what}\n`);
        },
      });
      if (tty) process.stderr.write('\n');
      if (opts.json) return printJson(result);
      const resumed = result.files.filter((f) => f.resumedFrom);
      process.stdout.write(
        [
          `Model:      ${result.repo} (${result.revision} = ${result.commit.slice(0, 12)})`,
          `Folder:     ${result.dir}`,
          `Files:      ${result.files.length}, ${formatBytes(result.totalBytes)} (downloaded now: ${formatBytes(result.downloadedBytes)}${resumed.length ? `, ${resumed.length} continued from an earlier download` : ''})`,
          result.skipped.length ? `Left out:   ${result.skipped.join(', ')} (not used by Attune)` : '',
          `Use it as:  --model ${result.repo}`,
        ]
          .filter(Boolean)
          .join('\n') + '\n',
      );
    });
  models
    .command('list')
    .description('Recommended models and the models already on this computer (Hugging Face cache, LM Studio, Ollama, added), and whether each can be tuned.')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { listModels } = await import('../../engine/index.js');
      const all = listModels();
      if (opts.json) return printJson(all);
      const onDisk = all.filter((m) => m.source !== 'catalog' || m.downloaded);
      const toGet = all.filter((m) => m.source === 'catalog' && !m.downloaded);
      const fit = { fits: 'fits', tight: 'tight', 'too-big': 'too big' } as const;
      const row = (m: (typeof all)[number]) => {
        const where = m.source === 'catalog' || m.source === 'hub-cache' ? 'Hugging Face' : m.source === 'lmstudio' ? 'LM Studio' : m.source === 'ollama' ? 'Ollama' : 'added';
        const size = m.bytes ? formatBytes(m.bytes) : '';
        const mem = m.memory ? `, memory to tune: ${fit[m.memory.fit]}${m.memory.fit !== 'fits' && m.memory.bestStorage !== 'f32' ? ` (${fit[m.memory.fitWithBest]} with --base-weights ${m.memory.bestStorage})` : ''}` : '';
        return `  ${m.name}  [${where}${size ? `, ${size}` : ''}${mem}]${m.canTune ? '' : `\n      cannot be tuned: ${m.reason}`}${m.path !== m.name ? `\n      --model ${m.path}` : ''}`;
      };
      process.stdout.write(
        [`On this computer (${onDisk.length}):`, ...(onDisk.length ? onDisk.map(row) : ['  none found']), '', `Recommended to download (attune models pull <name>):`, ...toGet.map((m) => `${row(m)}\n      ${m.description}${m.gated ? ' (gated)' : ''}`)].join('\n') + '\n',
      );
    });

  models
    .command('add <path>')
    .description('Remember a model folder or GGUF file so that it is listed (and shown in the app).')
    .option('--json', 'machine-readable output')
    .action(async (p: string, opts: { json?: boolean }) => {
      const { addModel } = await import('../../engine/index.js');
      const e = await addModel(p);
      if (opts.json) return printJson(e);
      process.stdout.write(`Added ${e.path}${e.canTune ? '' : ` (it cannot be tuned: ${e.reason})`}.\n`);
    });
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.ceil(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
