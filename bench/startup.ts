/**
 * How fast a tune and a chat start, cold (nothing cached: graphs built, ORT sessions optimised
 * from scratch) and warm (second start: everything cached), on the bench's random
 * SmolLM2-135M-shaped model (bench/model.ts). One child process per start, so nothing stays
 * in memory between them.
 *
 *   npm run bench:startup [-- --layers 30 --repeats 2 --sources]
 *
 * The children load the engine bundled, as the app does (see bundleChild); `--sources` loads
 * the TypeScript sources through tsx instead (the CLI's path in a checkout).
 * Timed from the call, when a person in the app starts waiting (the app loads the engine when it
 * starts); the process's start and the engine's import before it are shown apart.
 * tune: `runTuning` from the call to its `start` event (model headers, data, graph build or cache
 * lookup, ORT session creation), and to the end of the first optimizer step (batch 4 x <= 256).
 * chat: `ChatSession.open` plus the first token of a 64-token prompt (greedy). The CPU seconds
 * of the child up to "ready" (process start included) are printed too: other load inflates them
 * far less than wall time.
 * Targets (issue 17): tune cold <= 5 s, warm <= 2 s; chat's first token warm <= 1.5 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, fmt, intArg, loadLine, log, machineDescription, median, parseArgs, REPO_ROOT, runChild, runTsChild, table, WORK_DIR, engineSource } from './lib.js';
import type { StartResult } from './startup-child.js';
import { ensureBenchModel, SMOLLM2_135M } from './model.js';
import { promptIds } from './infer.js';
import { tuningProcessEnv } from '../src/shared/tuning-env.js';

/**
 * The child (bench/startup-child.ts) bundled with the engine into one module, its packages left
 * outside, as electron-vite builds the app's main process: started with plain node, nothing is
 * compiled on the way (tsx's loader made even the bundle's import 3x slower).
 */
async function bundleChild(): Promise<string> {
  const { build } = await import('esbuild');
  const dir = path.join(WORK_DIR, 'startup-engine');
  rmSync(dir, { recursive: true, force: true });
  await build({ entryPoints: [path.join(BENCH_DIR, 'startup-child.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', target: 'node20', outdir: dir, outExtension: { '.js': '.mjs' }, logLevel: 'warning' });
  return path.join(dir, 'startup-child.mjs');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const layers = intArg(args, 'layers', SMOLLM2_135M.layers);
  const repeats = intArg(args, 'repeats', 2);
  log(`bench:startup  ${machineDescription()}`);
  const m = await ensureBenchModel({ layers });
  const bundle = args.has('sources') ? undefined : await bundleChild();
  const data = path.join(REPO_ROOT, 'resources', 'samples', 'customer-service.jsonl');
  const results: Record<string, StartResult[]> = {};
  const loads: string[] = [loadLine()];
  for (let r = 0; r < repeats; r++) {
    for (const kind of ['tune', 'chat'] as const) {
      const cache = mkdtempSync(path.join(WORK_DIR, 'cache-startup-'));
      try {
        for (const phase of ['cold', 'warm']) {
          // A tune runs with the tuning process's environment, as the app's worker and the CLI start it.
          const env = { ATTUNE_CACHE_DIR: cache, ...(kind === 'tune' ? tuningProcessEnv(false) : {}) };
          const childArgs = [kind, m.hfDir, data, promptIds(64).join(',')];
          const { result } = bundle
            ? await runChild<StartResult>(process.execPath, [bundle, ...childArgs], env, `${kind} ${phase}`)
            : await runTsChild<StartResult>('startup-child.ts', childArgs, env, `${kind} ${phase}`);
          log(`  ${kind} ${phase}: ready ${result.ready.toFixed(2)} s after the call (process start + import before it ${result.importing.toFixed(2)} s; CPU ${result.cpuReady.toFixed(2)} s), first ${kind === 'tune' ? 'step' : 'token'} ${result.first.toFixed(2)} s (${loadLine()})`);
          (results[`${kind} ${phase}`] ??= []).push(result);
        }
      } finally {
        rmSync(cache, { recursive: true, force: true });
      }
    }
    loads.push(loadLine());
  }
  const row = (key: string, what: string, target: string) => {
    const rs = results[key] ?? [];
    return [key, what, fmt(median(rs.map((x) => x.ready)), 2), fmt(median(rs.map((x) => x.first)), 2), fmt(Math.min(...rs.map((x) => x.ready)), 2), fmt(median(rs.map((x) => x.cpuReady)), 2), fmt(median(rs.map((x) => x.importing)), 2), target];
  };
  console.log(`\nStart-up: random SmolLM2-135M-shaped llama, ${layers} layers, F32, 2 threads; median (and best) of ${repeats} child processes`);
  console.log(`Machine: ${machineDescription()}`);
  console.log(`Load during the run: ${loads.join(' -> ')}`);
  console.log(`Engine source: ${engineSource()}, loaded ${bundle ? 'bundled (as the app loads it)' : 'from the sources through tsx (--sources)'}\n`);
  console.log(
    table(['start', 'ready means', 'ready (s)', 'first step / token (s)', 'best ready (s)', 'CPU s to ready', 'before: process start + engine import (s)', 'target'], [
      row('tune cold', 'start event', 'ready <= 5 s'),
      row('tune warm', 'start event', 'ready <= 2 s'),
      row('chat cold', 'session open', ''),
      row('chat warm', 'session open', 'first token <= 1.5 s'),
    ]),
  );
}

await main();
