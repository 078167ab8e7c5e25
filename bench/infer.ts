/**
 * Inference speed and memory, Attune (ONNX Runtime CPU, its own graph) next to llama.cpp
 * (node-llama-cpp, CPU build) on the same weights (random SmolLM2-135M shapes, F32) and the same
 * token ids, in the same run.
 *
 *   npm run bench:infer [-- --quick] [-- --layers N] [-- --repeats R] [-- --inner K] [-- --new-tokens N]
 *                       [-- --attune-source gguf] [-- --nice -10] [-- --json]
 *
 * Every measurement runs in its own child process (peak RSS is per engine), the engines are
 * interleaved (Attune, llama.cpp, Attune, ...) and each figure is the median over the repeats.
 * Inside a child each speed is the best of K tries (default 2): other processes on a 2-core
 * machine only ever slow a run down, and llama.cpp's spinning threads suffer most from that.
 *
 * Figures
 *   prefill tok/s   prompt tokens / time of the first forward pass over the prompt (plus sampling
 *                   of the first token), for prompts of 128 and 512 tokens
 *   decode tok/s    (new tokens - 1) / time from the first to the last new token, greedy, after a
 *                   128-token (and a 512-token) prompt
 *   peak RSS        VmHWM of the child: model weights + session + KV cache + runtime
 *   build           Attune: loadModel, then ChatSession.open (graph build + write + ORT session);
 *                   cold = empty ATTUNE_CACHE_DIR, warm = graph already cached.
 *                   llama.cpp: loadModel + createContext.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { bestOverThreads, emitResult, engineSource, fmt, niceArg, intArg, log, machineDescription, median, parseArgs, peakRssMiB, ratio, REPO_ROOT, runTsChild, table, WORK_DIR } from './lib.js';
import { ensureBenchModel, REAL_TOKENS, SMOLLM2_135M } from './model.js';

const PROMPTS = [128, 512] as const;
const THREADS = 2;

interface EngineRun {
  engine: 'attune' | 'llama.cpp';
  /** seconds: load weights; build (graph + session, or context) */
  loadSeconds: number;
  buildSeconds: number;
  graphReused?: boolean;
  prefill: Record<string, number>; // prompt length -> tokens/s
  decode: Record<string, number>; // prompt length -> tokens/s
  generated: Record<string, number>; // prompt length -> tokens produced
  firstTokens: number[];
  peakRssMiB: number;
  rssAfterLoadMiB: number;
  /** Threads the engine ran with (llama.cpp runs with 1 and with 2; its best counts). */
  threads?: number;
  /** llama.cpp: which thread count won each speed. */
  winners?: string;
}

interface BuildOnly {
  loadSeconds: number;
  buildSeconds: number;
  graphReused: boolean;
  peakRssMiB: number;
}

/** Deterministic prompt ids (< REAL_TOKENS), the same in every child and engine. */
export function promptIds(length: number, seed = 7): number[] {
  let s = seed >>> 0;
  const out: number[] = [1]; // BOS
  while (out.length < length) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(3 + (s % (REAL_TOKENS - 3)));
  }
  return out;
}

// ------------------------------------------------------------------ children

async function attuneChild(modelPath: string, newTokens: number, inner: number, buildOnly: boolean): Promise<void> {
  const { loadModel } = await import('../src/engine/models/load.js');
  const { ChatSession } = await import('../src/engine/generate/chat-session.js');
  const t0 = performance.now();
  // As the app and CLI open a model: headers checked now, weights read only if a graph must be built.
  const model = await loadModel(modelPath, { lazyWeights: true });
  const t1 = performance.now();
  const session = await ChatSession.open({ modelPath, model, device: 'cpu', threads: THREADS });
  const t2 = performance.now();
  const loadSeconds = (t1 - t0) / 1000;
  const buildSeconds = (t2 - t1) / 1000;
  if (buildOnly) {
    await session.close();
    emitResult({ loadSeconds, buildSeconds, graphReused: false, peakRssMiB: peakRssMiB() } satisfies BuildOnly);
    return;
  }
  const rssAfterLoadMiB = peakRssMiB();
  // Warm-up at the largest prompt: grows ORT's arena to its working size.
  await session.complete(promptIds(PROMPTS[PROMPTS.length - 1]!, 99), { maxTokens: 4, temperature: 0 });
  const prefill: Record<string, number> = {};
  const decode: Record<string, number> = {};
  const generated: Record<string, number> = {};
  let firstTokens: number[] = [];
  for (const n of PROMPTS) {
    const ids = promptIds(n);
    prefill[n] = 0;
    decode[n] = 0;
    for (let i = 0; i < inner; i++) {
      const ts = performance.now();
      await session.complete(ids, { maxTokens: 1, temperature: 0 });
      prefill[n] = Math.max(prefill[n]!, n / ((performance.now() - ts) / 1000));
    }
    for (let i = 0; i < inner; i++) {
      const r = await session.complete(ids, { maxTokens: newTokens, temperature: 0 });
      decode[n] = Math.max(decode[n]!, r.tokensPerSecond);
      generated[n] = r.tokens.length;
      if (n === PROMPTS[0]) firstTokens = r.tokens.slice(0, 8);
    }
  }
  await session.close();
  emitResult({ engine: 'attune', loadSeconds, buildSeconds, prefill, decode, generated, firstTokens, peakRssMiB: peakRssMiB(), rssAfterLoadMiB } satisfies EngineRun);
}

async function llamaChild(gguf: string, newTokens: number, inner: number, threads = THREADS): Promise<void> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  type Token = import('node-llama-cpp').Token;
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: gguf });
  const t1 = performance.now();
  const ctx = await model.createContext({
    contextSize: 1024,
    threads,
    batchSize: 512,
    flashAttention: false,
    experimentalKvCacheKeyType: 'F32',
    experimentalKvCacheValueType: 'F32',
  });
  const t2 = performance.now();
  const rssAfterLoadMiB = peakRssMiB();
  const seq = ctx.getSequence();
  /** Greedy continuation; returns seconds to the first token and to the last. */
  const run = async (ids: number[], max: number) => {
    await seq.clearHistory();
    const tokens: number[] = [];
    const ts = performance.now();
    let tFirst = ts;
    for await (const tok of seq.evaluate(ids as Token[], { temperature: 0 })) {
      if (tokens.length === 0) tFirst = performance.now();
      tokens.push(tok);
      if (tokens.length >= max) break;
    }
    const tEnd = performance.now();
    return { tokens, first: (tFirst - ts) / 1000, rest: (tEnd - tFirst) / 1000 };
  };
  await run(promptIds(PROMPTS[PROMPTS.length - 1]!, 99), 4);
  const prefill: Record<string, number> = {};
  const decode: Record<string, number> = {};
  const generated: Record<string, number> = {};
  let firstTokens: number[] = [];
  for (const n of PROMPTS) {
    const ids = promptIds(n);
    prefill[n] = 0;
    decode[n] = 0;
    for (let i = 0; i < inner; i++) {
      const p = await run(ids, 1);
      prefill[n] = Math.max(prefill[n]!, n / p.first);
    }
    for (let i = 0; i < inner; i++) {
      const r = await run(ids, newTokens);
      decode[n] = Math.max(decode[n]!, r.rest > 0 ? (r.tokens.length - 1) / r.rest : 0);
      generated[n] = r.tokens.length;
      if (n === PROMPTS[0]) firstTokens = r.tokens.slice(0, 8);
    }
  }
  const peak = peakRssMiB();
  await ctx.dispose();
  await model.dispose();
  await llama.dispose();
  emitResult({ engine: 'llama.cpp', loadSeconds: (t1 - t0) / 1000, buildSeconds: (t2 - t1) / 1000, prefill, decode, generated, firstTokens, peakRssMiB: peak, rssAfterLoadMiB, threads } satisfies EngineRun);
}

// ------------------------------------------------------------------ parent

function llamaVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules', 'node-llama-cpp', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

/** One llama.cpp result from its 1- and 2-thread children: each speed the better of the two. */
function bestLlama(peer: EngineRun[]): EngineRun {
  const out: EngineRun = { ...peer[peer.length - 1]!, prefill: {}, decode: {} };
  const winners: string[] = [];
  for (const n of PROMPTS) {
    const p = bestOverThreads(peer.map((x) => ({ ...x, threads: x.threads ?? THREADS })), (x) => x.prefill[n]!);
    const d = bestOverThreads(peer.map((x) => ({ ...x, threads: x.threads ?? THREADS })), (x) => x.decode[n]!);
    out.prefill[n] = p.value;
    out.decode[n] = d.value;
    winners.push(`prefill ${n}: ${p.threads}t, decode ${n}: ${d.threads}t`);
  }
  return { ...out, winners: winners.join(', ') };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const child = args.get('child');
  const newTokens = intArg(args, 'new-tokens', 128);
  const quick = args.has('quick');
  const inner = intArg(args, 'inner', quick ? 1 : 2);
  if (child === 'attune' || child === 'attune-build') return attuneChild(String(args.get('model')), newTokens, inner, child === 'attune-build');
  if (child === 'llama') return llamaChild(String(args.get('model')), newTokens, inner, intArg(args, 'threads', THREADS));
  if (args.has('gguf-types')) return (await import('./gguf-compare.js')).ggufComparison(args, promptIds);

  const layers = intArg(args, 'layers', quick ? 6 : SMOLLM2_135M.layers);
  const repeats = intArg(args, 'repeats', quick ? 1 : 3);
  const nice = niceArg(args);
  const source = args.get('attune-source') === 'gguf' ? 'gguf' : 'hf';
  log(`bench:infer  ${machineDescription()}`);
  const m = await ensureBenchModel({ layers });
  const attunePath = source === 'gguf' ? m.gguf : m.hfDir;
  const common = ['--new-tokens', String(newTokens), '--inner', String(inner)];

  // One warm cache shared by the warm runs; a fresh one for every cold build.
  const warmCache = path.join(WORK_DIR, `cache-warm-L${layers}`);
  const loads: number[] = [os.loadavg()[0]!];
  const cold: BuildOnly[] = [];
  const runs: EngineRun[] = [];
  for (let r = 0; r < repeats; r++) {
    const coldCache = mkdtempSync(path.join(WORK_DIR, 'cache-cold-'));
    try {
      log(`  repeat ${r + 1}/${repeats}: Attune cold build`);
      cold.push((await runTsChild<BuildOnly>('infer.ts', ['--child', 'attune-build', '--model', attunePath, ...common], { ATTUNE_CACHE_DIR: coldCache }, 'attune cold')).result);
    } finally {
      rmSync(coldCache, { recursive: true, force: true });
    }
    log(`  repeat ${r + 1}/${repeats}: Attune`);
    runs.push((await runTsChild<EngineRun>('infer.ts', ['--child', 'attune', '--model', attunePath, ...common], { ATTUNE_CACHE_DIR: warmCache }, 'attune')).result);
    // llama.cpp with 1 and with 2 threads: its spinning threads can lose badly on a shared machine.
    const peer: EngineRun[] = [];
    for (const threads of [1, THREADS]) {
      log(`  repeat ${r + 1}/${repeats}: llama.cpp, ${threads} thread(s)`);
      peer.push((await runTsChild<EngineRun>('infer.ts', ['--child', 'llama', '--model', m.gguf, '--threads', String(threads), ...common], {}, `llama.cpp ${threads}t`)).result);
    }
    runs.push(bestLlama(peer));
    loads.push(os.loadavg()[0]!);
  }
  const a = runs.filter((x) => x.engine === 'attune');
  const l = runs.filter((x) => x.engine === 'llama.cpp');
  const med = (xs: EngineRun[], f: (x: EngineRun) => number) => median(xs.map(f));

  const rows: (string | number)[][] = [];
  for (const n of PROMPTS) {
    const pa = med(a, (x) => x.prefill[n]!);
    const pl = med(l, (x) => x.prefill[n]!);
    rows.push([`prefill ${n} tokens (tok/s)`, pa, pl, ratio(pa, pl)]);
  }
  for (const n of PROMPTS) {
    const da = med(a, (x) => x.decode[n]!);
    const dl = med(l, (x) => x.decode[n]!);
    rows.push([`decode ${newTokens} after ${n} (tok/s)`, da, dl, ratio(da, dl)]);
  }
  const ra = med(a, (x) => x.peakRssMiB);
  const rl = med(l, (x) => x.peakRssMiB);
  rows.push(['peak RSS (MiB)', ra, rl, ratio(ra, rl)]);
  const la = med(a, (x) => x.rssAfterLoadMiB);
  const ll = med(l, (x) => x.rssAfterLoadMiB);
  rows.push(['RSS after load+build (MiB)', la, ll, ratio(la, ll)]);
  const wa = med(a, (x) => x.loadSeconds + x.buildSeconds);
  const wl = med(l, (x) => x.loadSeconds + x.buildSeconds);
  rows.push(['start, warm (s)', fmt(wa, 2), fmt(wl, 2), ratio(wa, wl)]);
  const ca = median(cold.map((x) => x.loadSeconds + x.buildSeconds));
  rows.push(['start, cold graph cache (s)', fmt(ca, 2), fmt(wl, 2), ratio(ca, wl)]);

  console.log('');
  console.log(`Inference: random SmolLM2-135M-shaped llama, ${layers} layers, F32 weights, ${THREADS} threads; speeds are the best of ${inner} tries inside a child, then the median over ${repeats} child processes per engine`);
  console.log(`Machine: ${machineDescription()}; 1-min load average during the run ${loads.map((x) => x.toFixed(1)).join(' -> ')}`);
  console.log(`Engine source: ${engineSource()}; llama.cpp: node-llama-cpp ${llamaVersion()} (CPU build), best of 1 and ${THREADS} threads per figure (winning threads per repeat: ${l.map((x) => x.winners).join('; ')})${nice ? `; children ran at nice ${nice}` : ''}`);
  console.log('');
  console.log(table(['figure', 'Attune', 'llama.cpp', 'Attune/llama.cpp'], rows));
  console.log('');
  console.log(
    table(
      ['Attune start detail (s)', 'load weights', 'graph + session', 'peak RSS (MiB)'],
      [
        ['cold (fresh ATTUNE_CACHE_DIR)', fmt(median(cold.map((x) => x.loadSeconds)), 2), fmt(median(cold.map((x) => x.buildSeconds)), 2), median(cold.map((x) => x.peakRssMiB))],
        ['warm (graph cached)', fmt(med(a, (x) => x.loadSeconds), 2), fmt(med(a, (x) => x.buildSeconds), 2), ra],
        ['llama.cpp (load, context)', fmt(med(l, (x) => x.loadSeconds), 2), fmt(med(l, (x) => x.buildSeconds), 2), rl],
      ],
    ),
  );
  const short = runs.filter((x) => Object.values(x.generated).some((g) => g < newTokens));
  if (short.length) console.log(`\nnote: ${short.length} run(s) stopped before ${newTokens} new tokens (a stop token was generated); their decode rate covers fewer tokens.`);
  const agree = a[0] && l[0] ? a[0].firstTokens.filter((t, i) => t === l[0]!.firstTokens[i]).length : 0;
  console.log(`\ngreedy tokens after the 128-token prompt: Attune ${JSON.stringify(a[0]?.firstTokens)}, llama.cpp ${JSON.stringify(l[0]?.firstTokens)} (${agree}/8 agree)`);
  if (args.has('json')) console.log(JSON.stringify({ layers, repeats, runs, cold }, null, 2));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
