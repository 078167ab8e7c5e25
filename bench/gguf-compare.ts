/**
 * bench:infer --gguf-types Q8_0,Q4_0: chat decode speed of Attune and llama.cpp on the SAME GGUF
 * file per type, in ONE process, runs interleaved (Attune, llama.cpp 1 thread, llama.cpp 2
 * threads, next type, ... repeated) so that every side sees the same load. Attune keeps the file's
 * Q8_0/Q4_0/Q4_K/Q6_K blocks compressed (MatMulNBits); F32 is the expanded path, for reference.
 *
 *   npm run bench:infer -- --gguf-types F32,Q8_0,Q4_0 [--layers 30] [--rounds 3] [--new-tokens 64] [--prompt 128]
 *   npm run bench:infer -- --gguf-types F32,Q4_K,Q6_K ...
 *
 * K-quants pack rows of 256 values: with Q4_K or Q6_K among the types, every file is written from
 * a model with SmolLM2-135M's depth, vocabulary and head size but widths that are multiples of 256
 * (hidden 512, 8 heads, 4 KV heads, FFN 1536), so that every matrix is in the type asked for.
 *
 * llama.cpp's threads spin at each barrier: on a shared 2-core machine 1 thread is sometimes much
 * faster than 2, so both are run and the better one is the peer. Each figure is the best of the
 * rounds (other load only ever slows a run down).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fmt, intArg, log, machineDescription, table, WORK_DIR } from './lib.js';
import { ensureBenchModel, SMOLLM2_135M } from './model.js';

type GgufType = 'F32' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K';
const K_QUANT_WIDTHS = { hidden: 512, heads: 8, kvHeads: 4, ffn: 1536 };

const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

/** The bench model written as a GGUF of `type` (once, under bench/.work). */
async function ggufOfType(f32File: string, layers: number, type: GgufType, wide: boolean): Promise<string> {
  if (type === 'F32') return f32File;
  const file = path.join(WORK_DIR, `bench-L${layers}${wide ? '-h512' : ''}-${type}.gguf`);
  if (existsSync(file)) return file;
  log(`writing ${path.basename(file)} ...`);
  const { readGgufModel, writeGgufModel } = await import('../src/engine/weights/gguf-model.js');
  const m = await readGgufModel(f32File);
  await writeGgufModel(file, { config: m.config, tensors: m.tensors, tokenizerJson: m.tokenizerJson, tokenizerConfig: m.tokenizerConfig, type });
  return file;
}

export async function ggufComparison(args: Map<string, string | true>, promptIds: (n: number) => number[]): Promise<void> {
  const quick = args.has('quick');
  const layers = intArg(args, 'layers', quick ? 6 : SMOLLM2_135M.layers);
  const rounds = intArg(args, 'rounds', quick ? 2 : 3);
  const newTokens = intArg(args, 'new-tokens', 64);
  const promptLength = intArg(args, 'prompt', 128);
  const types = String(args.get('gguf-types')).split(',').filter(Boolean) as GgufType[];
  mkdirSync(WORK_DIR, { recursive: true });
  // A cache of its own (its graphs are built while the bench runs), removed at the end: each run
  // would otherwise leave half a gigabyte or more behind.
  const cacheDir = path.join(WORK_DIR, `cache-gguf-compare-${process.pid}`);
  process.env.ATTUNE_CACHE_DIR = cacheDir;
  log(`bench:infer --gguf-types ${types.join(',')}  ${machineDescription()}; load ${loadavg()}`);
  const kQuants = types.some((t) => t.endsWith('_K'));
  const m = await ensureBenchModel({ layers, ...(kQuants ? { widths: K_QUANT_WIDTHS } : {}) });
  const files = new Map<GgufType, string>();
  for (const t of types) files.set(t, await ggufOfType(m.gguf, layers, t, kQuants));

  const { loadModel } = await import('../src/engine/models/load.js');
  const { ChatSession } = await import('../src/engine/generate/chat-session.js');
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  type Token = import('node-llama-cpp').Token;
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const ids = promptIds(promptLength);

  type Side = { complete: () => Promise<{ decode: number; tokens: number[] }>; close: () => Promise<void> };
  interface Sides {
    attune: Map<number, Side>;
    llama: Map<number, Side>;
  }
  const sides = new Map<GgufType, Sides>();
  for (const [type, file] of files) {
    log(`opening ${type}: Attune, llama.cpp (1 and 2 threads)`);
    const attune = new Map<number, Side>();
    for (const threads of [2, 1]) {
      const model = await loadModel(file, { lazyWeights: true });
      const chat = await ChatSession.open({ modelPath: file, model, device: 'cpu', threads });
      attune.set(threads, {
        complete: async () => {
          const r = await chat.complete(ids, { maxTokens: newTokens, temperature: 0 });
          return { decode: r.tokensPerSecond, tokens: r.tokens.slice(0, 8) };
        },
        close: () => chat.close(),
      });
    }
    const lm = await llama.loadModel({ modelPath: file });
    const peers = new Map<number, Side>();
    for (const threads of [1, 2]) {
      const ctx = await lm.createContext({ contextSize: 1024, threads, batchSize: 512, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } as never);
      const seq = ctx.getSequence();
      peers.set(threads, {
        complete: async () => {
          await seq.clearHistory();
          const tokens: number[] = [];
          let tFirst = 0;
          for await (const tok of seq.evaluate(ids as Token[], { temperature: 0 })) {
            if (tokens.length === 0) tFirst = performance.now();
            tokens.push(tok);
            if (tokens.length >= newTokens) break;
          }
          return { decode: (tokens.length - 1) / ((performance.now() - tFirst) / 1000), tokens: tokens.slice(0, 8) };
        },
        close: () => ctx.dispose(),
      });
    }
    sides.set(type, { attune, llama: peers });
    // warm-up
    for (const p of [...attune.values(), ...peers.values()]) await p.complete();
  }

  const best = new Map<string, number>();
  const first = new Map<string, number[]>();
  const record = (key: string, r: { decode: number; tokens: number[] }) => {
    best.set(key, Math.max(best.get(key) ?? 0, r.decode));
    first.set(key, r.tokens);
  };
  const loads = [loadavg()];
  for (let round = 0; round < rounds; round++) {
    for (const [type, s] of sides) {
      for (const [threads, p] of s.attune) record(`${type} attune ${threads}`, await p.complete());
      for (const [threads, p] of s.llama) record(`${type} llama ${threads}`, await p.complete());
      log(`round ${round + 1} ${type}: Attune 2t ${fmt(best.get(`${type} attune 2`)!, 1)} 1t ${fmt(best.get(`${type} attune 1`)!, 1)}, llama.cpp 1t ${fmt(best.get(`${type} llama 1`)!, 1)} 2t ${fmt(best.get(`${type} llama 2`)!, 1)} tok/s (best so far)`);
    }
  }
  loads.push(loadavg());
  for (const s of sides.values()) {
    for (const p of [...s.attune.values(), ...s.llama.values()]) await p.close();
  }
  await llama.dispose();

  console.log('');
  console.log(`Chat decode (tok/s) on the same GGUF file, one process, runs interleaved: random SmolLM2-135M-shaped llama${kQuants ? ` with widths ${JSON.stringify(K_QUANT_WIDTHS)}` : ''}, ${layers} layers, ${newTokens} new tokens after a ${promptLength}-token prompt, greedy; best of ${rounds} rounds`);
  console.log(`Machine: ${machineDescription()}; load average (1/5/15 min) ${loads.join(' -> ')}; ${new Date().toISOString()}`);
  console.log('');
  console.log(table(['file', 'Attune 2 threads (as the app)', 'Attune 1 thread', 'llama.cpp 1 thread', 'llama.cpp 2 threads', 'Attune 2t / best llama.cpp', 'best / best', 'greedy tokens agree'], types.map((t) => {
    const a2 = best.get(`${t} attune 2`)!;
    const a1 = best.get(`${t} attune 1`)!;
    const l1 = best.get(`${t} llama 1`)!;
    const l2 = best.get(`${t} llama 2`)!;
    const fa = first.get(`${t} attune 2`)!;
    const fl = first.get(`${t} llama ${l1 >= l2 ? 1 : 2}`)!;
    return [t, fmt(a2, 1), fmt(a1, 1), fmt(l1, 1), fmt(l2, 1), `${fmt(a2 / Math.max(l1, l2), 2)}x`, `${fmt(Math.max(a1, a2) / Math.max(l1, l2), 2)}x`, `${fa.filter((x, i) => x === fl[i]).length}/8`];
  })));
  for (const t of types) {
    const fa = first.get(`${t} attune 2`)!;
    const fl = first.get(`${t} llama ${best.get(`${t} llama 1`)! >= best.get(`${t} llama 2`)! ? 1 : 2}`)!;
    const at = fa.findIndex((x, i) => x !== fl[i]);
    if (at >= 0) console.log(`${t}: ${await firstDifference(files.get(t)!, [...ids, ...fa.slice(0, at)], at, fa[at]!, fl[at]!)}`);
  }
  rmSync(cacheDir, { recursive: true, force: true });
}

/**
 * Where greedy tokens part: Attune's logits at that step for its token and for llama.cpp's. A
 * random model's logits are nearly flat, so a difference in summation order (not an error) can
 * swap two tokens whose logits lie a few thousandths apart; the gap says which case it is.
 */
async function firstDifference(file: string, context: number[], at: number, ours: number, theirs: number): Promise<string> {
  const { loadModel } = await import('../src/engine/models/load.js');
  const { inferenceSessionFor } = await import('../src/engine/generate/inference-session.js');
  const { createSession } = await import('../src/engine/runtime/session.js');
  const { forwardPass } = await import('../src/engine/generate/generator.js');
  const model = await loadModel(file, { lazyWeights: true });
  const session = await createSession(await inferenceSessionFor(model, { lastTokenOnly: true }));
  const logits = await forwardPass(session, model.config, context);
  await session.release();
  const gap = logits[ours]! - logits[theirs]!;
  return `greedy tokens part at token ${at + 1}: Attune's logit for its token ${ours} is ${fmt(logits[ours]!, 4)}, for llama.cpp's ${theirs} ${fmt(logits[theirs]!, 4)} (gap ${fmt(gap, 4)}${gap < 0.01 ? ', a near-tie' : ''})`;
}
