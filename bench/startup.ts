/**
 * How fast a tune and a chat start, cold (nothing cached: graphs built, ORT sessions optimised
 * from scratch) and warm (second start: everything cached), on the bench's random
 * SmolLM2-135M-shaped model (bench/model.ts). One child process per start, so nothing stays
 * in memory between them.
 *
 *   npm run bench:startup [-- --layers 30 --repeats 2]
 *
 * tune: `runTuning` from the call to its `start` event (model headers, data, graph build or cache
 * lookup, ORT session creation), and to the end of the first optimizer step (batch 4 x <= 256).
 * chat: `ChatSession.open` plus the first token of a 64-token prompt (greedy). The CPU seconds
 * of the child up to "ready" (process start included) are printed too: other load inflates them
 * far less than wall time.
 * Targets (issue 17): tune cold <= 5 s, warm <= 2 s; chat's first token warm <= 1.5 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { emitResult, fmt, intArg, loadLine, log, machineDescription, median, parseArgs, REPO_ROOT, runTsChild, table, WORK_DIR, engineSource } from './lib.js';
import { ensureBenchModel, SMOLLM2_135M } from './model.js';
import { promptIds } from './infer.js';
import { tuningProcessEnv } from '../src/shared/tuning-env.js';

interface StartResult {
  /** Seconds to the tune's start event, or to the chat's open session. */
  ready: number;
  /** Seconds to the end of the first step, or to the first token. */
  first: number;
  /** CPU seconds (all threads) to `ready`: less sensitive to other load than wall time. */
  cpuReady: number;
  /**
   * Seconds of `ready` spent importing the engine's modules: here tsx compiles the TypeScript
   * sources on the way (the CLI's path); the app loads them bundled, in a fraction of this.
   */
  importing: number;
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function tuneChild(model: string): Promise<void> {
  const t0 = performance.now();
  const { runTuning } = await import('../src/engine/index.js');
  const importing = (performance.now() - t0) / 1000;
  const out = mkdtempSync(path.join(os.tmpdir(), 'attune-startup-run-'));
  rmSync(out, { recursive: true });
  const abort = new AbortController();
  let ready = NaN;
  let first = NaN;
  let cpuReady = NaN;
  try {
    await runTuning(
      { model, data: path.join(REPO_ROOT, 'resources', 'samples', 'customer-service.jsonl'), out, device: 'cpu', threads: 2, batchSize: 4, maxLength: 256, maxSteps: 2, trainTokens: 'none' },
      {
        signal: abort.signal,
        onEvent: (e) => {
          if (e.type === 'start') {
            ready = (performance.now() - t0) / 1000;
            cpuReady = cpuSeconds();
          }
          if (e.type === 'step' && Number.isNaN(first)) {
            first = (performance.now() - t0) / 1000;
            abort.abort();
          }
        },
      },
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  emitResult({ ready, first, cpuReady, importing } satisfies StartResult);
}

async function chatChild(modelPath: string): Promise<void> {
  const t0 = performance.now();
  const { ChatSession } = await import('../src/engine/generate/chat-session.js');
  const importing = (performance.now() - t0) / 1000;
  const session = await ChatSession.open({ modelPath, device: 'cpu', threads: 2 });
  const ready = (performance.now() - t0) / 1000;
  const cpuReady = cpuSeconds();
  await session.complete(promptIds(64), { maxTokens: 1, temperature: 0 });
  const first = (performance.now() - t0) / 1000;
  await session.close();
  emitResult({ ready, first, cpuReady, importing } satisfies StartResult);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const child = args.get('child');
  if (child === 'tune') return tuneChild(String(args.get('model')));
  if (child === 'chat') return chatChild(String(args.get('model')));
  const layers = intArg(args, 'layers', SMOLLM2_135M.layers);
  const repeats = intArg(args, 'repeats', 2);
  log(`bench:startup  ${machineDescription()}`);
  const m = await ensureBenchModel({ layers });
  const results: Record<string, StartResult[]> = {};
  const loads: string[] = [loadLine()];
  for (let r = 0; r < repeats; r++) {
    for (const kind of ['tune', 'chat'] as const) {
      const cache = mkdtempSync(path.join(WORK_DIR, 'cache-startup-'));
      try {
        for (const phase of ['cold', 'warm']) {
          // A tune runs with the tuning process's environment, as the app's worker and the CLI start it.
          const env = { ATTUNE_CACHE_DIR: cache, ...(kind === 'tune' ? tuningProcessEnv(false) : {}) };
          const { result } = await runTsChild<StartResult>('startup.ts', ['--child', kind, '--model', m.hfDir], env, `${kind} ${phase}`);
          log(`  ${kind} ${phase}: ready ${result.ready.toFixed(2)} s (importing ${result.importing.toFixed(2)} s; CPU ${result.cpuReady.toFixed(2)} s), first ${kind === 'tune' ? 'step' : 'token'} ${result.first.toFixed(2)} s (${loadLine()})`);
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
  console.log(`Engine source: ${engineSource()}\n`);
  console.log(
    table(['start', 'ready means', 'ready (s)', 'first step / token (s)', 'best ready (s)', 'CPU s to ready', 'of ready: importing the sources (s)', 'target'], [
      row('tune cold', 'start event', 'ready <= 5 s'),
      row('tune warm', 'start event', 'ready <= 2 s'),
      row('chat cold', 'session open', ''),
      row('chat warm', 'session open', 'first token <= 1.5 s'),
    ]),
  );
}

await main();
