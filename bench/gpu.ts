/**
 * The GPU next to the CPU on the same machine: chat (prefill, greedy decode) and LoRA training
 * steps of the benchmark model (SmolLM2-135M shapes, random weights) on ONNX Runtime's WebGPU
 * provider (Dawn, in the npm package) and on its CPU provider, in one process, one after the other.
 *
 *   npx tsx bench/gpu.ts [--layers N] [--steps S] [--new-tokens N] [--prompt N] [--threads T]
 *
 * Run it where a GPU is (the device machine): it also checks that the two devices agree (the same
 * greedy tokens; training losses within float tolerance), so a fast wrong answer does not pass.
 * Output: tables on stdout; with `--json FILE` the raw figures too.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fmt, intArg, log, machineDescription, parseArgs, ratio, table, WORK_DIR } from './lib.js';
import { ensureBenchModel, REAL_TOKENS } from './model.js';
import { loadModel } from '../src/engine/models/load.js';
import { ChatSession } from '../src/engine/generate/chat-session.js';
import { chooseDevice, probeDevices } from '../src/engine/runtime/devices.js';
import { buildTrainStepGraph, trainableTensors } from '../src/engine/train/step-graph.js';
import { benchStepOptions, STATE_NAMES, stepFeeds } from './step-feeds.js';
import { writeModelDir } from '../src/engine/onnx/serialize.js';
import { createSession, floatTensor } from '../src/engine/runtime/session.js';
import type { BaseStorage } from '../src/engine/models/base-storage.js';

type Device = 'cpu' | 'webgpu';

const args = parseArgs(process.argv.slice(2));
const LAYERS = intArg(args, 'layers', 30);
const STEPS = intArg(args, 'steps', 3);
const NEW_TOKENS = intArg(args, 'new-tokens', 64);
const PROMPT = intArg(args, 'prompt', 256);
const THREADS = intArg(args, 'threads', os.availableParallelism?.() ?? os.cpus().length);
const BATCH = intArg(args, 'batch', 4);
const SEQ = intArg(args, 'seq', 512);

function promptIds(n: number): number[] {
  let s = 7;
  return Array.from({ length: n }, () => 3 + ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % (REAL_TOKENS - 3)));
}

interface ChatFigures {
  device: Device;
  openSeconds: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  tokens: number[];
}

async function chat(modelPath: string, device: Device): Promise<ChatFigures> {
  const model = await loadModel(modelPath, { lazyWeights: true });
  const t0 = performance.now();
  const session = await ChatSession.open({ modelPath, model, device, threads: THREADS });
  const openSeconds = (performance.now() - t0) / 1000;
  const ids = promptIds(PROMPT);
  await session.complete(ids, { maxTokens: 4, temperature: 0 }); // warm-up: shaders, arena
  let prefill = 0;
  let decode = 0;
  let tokens: number[] = [];
  for (let i = 0; i < 2; i++) {
    const ts = performance.now();
    await session.complete(ids, { maxTokens: 1, temperature: 0 });
    prefill = Math.max(prefill, PROMPT / ((performance.now() - ts) / 1000));
    const r = await session.complete(ids, { maxTokens: NEW_TOKENS, temperature: 0 });
    decode = Math.max(decode, r.tokensPerSecond);
    tokens = r.tokens;
  }
  await session.close();
  return { device, openSeconds, prefillTokensPerSecond: prefill, decodeTokensPerSecond: decode, tokens };
}

interface TrainFigures {
  device: Device;
  storage: BaseStorage;
  sessionSeconds: number;
  stepSeconds: number;
  tokensPerSecond: number;
  losses: number[];
}

async function train(hfDir: string, device: Device, storage: BaseStorage): Promise<TrainFigures> {
  const model = await loadModel(hfDir);
  const opts = { ...benchStepOptions(BATCH * SEQ), baseStorage: storage, device };
  const dir = path.join(WORK_DIR, `gpu-train-${device}-${storage}-${process.pid}`);
  const { modelPath } = await writeModelDir(buildTrainStepGraph(model.config, model.weights, opts), dir);
  const t0 = performance.now();
  const session = await createSession(modelPath, { device, threads: THREADS });
  const sessionSeconds = (performance.now() - t0) / 1000;
  rmSync(dir, { recursive: true, force: true });

  const N = BATCH * SEQ;
  const { fixed, state } = stepFeeds(trainableTensors(model.config, opts), BATCH, SEQ, 2e-4);
  const times: number[] = [];
  const losses: number[] = [];
  for (let i = 0; i < STEPS + 1; i++) {
    const ts = performance.now();
    const out = await session.run({ ...fixed, ...state, step: floatTensor(Float32Array.of(i + 1), []) });
    const dt = (performance.now() - ts) / 1000;
    for (const p of STATE_NAMES) state[p] = out[`new.${p}`]!;
    losses.push((out.loss_sum!.data as Float32Array)[0]! / N);
    if (i > 0) times.push(dt); // the first step compiles shaders / grows the arena
    log(`${device} ${storage} step ${i + 1}: ${dt.toFixed(3)} s loss ${losses.at(-1)!.toFixed(5)}`);
  }
  await session.release();
  const stepSeconds = times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  return { device, storage, sessionSeconds, stepSeconds, tokensPerSecond: N / stepSeconds, losses };
}

async function main(): Promise<void> {
  mkdirSync(WORK_DIR, { recursive: true });
  console.log(`CPU: ${machineDescription()}`);
  const probes = await probeDevices({ fresh: true });
  for (const p of probes) console.log(`device ${p.device}: ${p.available ? 'works' : 'not usable'}${p.gflops ? `, ${fmt(p.gflops)} GFLOP/s (F32 matrix probe)` : ''}${p.bulkGflops ? `, ${fmt(p.bulkGflops)} GFLOP/s sized like training` : ''}${p.device !== 'cpu' && p.f16 ? ', shader-f16' : ''}${p.reason ? ` (${p.reason})` : ''}`);
  for (const workload of ['training', 'chat'] as const) console.log(`automatic choice for ${workload}: ${chooseDevice(probes, workload).device} (${chooseDevice(probes, workload).reason})`);
  if (!probes.find((p) => p.device === 'webgpu')?.available) throw new Error('WebGPU is not usable on this machine; nothing to compare.');

  const bench = await ensureBenchModel({ layers: LAYERS });
  console.log(`\nmodel: SmolLM2-135M shapes, ${LAYERS} layers, random weights; ${THREADS} CPU threads`);

  const chats = [await chat(bench.hfDir, 'cpu'), await chat(bench.hfDir, 'webgpu')];
  const [c, w] = chats as [ChatFigures, ChatFigures];
  const sameTokens = c.tokens.length === w.tokens.length && c.tokens.every((t, i) => t === w.tokens[i]);
  console.log(`\nChat, prompt ${PROMPT} tokens, ${NEW_TOKENS} new tokens, greedy (best of 2)`);
  console.log(
    table(
      ['', 'open (s)', 'prefill tok/s', 'decode tok/s'],
      chats.map((r) => [r.device, fmt(r.openSeconds), fmt(r.prefillTokensPerSecond), fmt(r.decodeTokensPerSecond)]),
    ),
  );
  console.log(`WebGPU / CPU: prefill ${ratio(w.prefillTokensPerSecond, c.prefillTokensPerSecond)}, decode ${ratio(w.decodeTokensPerSecond, c.decodeTokensPerSecond)}; same greedy tokens: ${sameTokens ? 'yes' : `NO (cpu ${c.tokens.slice(0, 8).join(',')} vs webgpu ${w.tokens.slice(0, 8).join(',')})`}`);

  // f16 only where the adapter has half-precision shaders (a software device has none).
  const storages: BaseStorage[] = probes.find((p) => p.device === 'webgpu')?.f16 ? ['f32', 'f16', 'int4'] : ['f32', 'int4'];
  const trains: TrainFigures[] = [];
  for (const storage of storages) for (const device of ['cpu', 'webgpu'] as Device[]) trains.push(await train(bench.hfDir, device, storage));
  console.log(`\nLoRA training step, batch ${BATCH} x ${SEQ} tokens, rank 16 on all projections (median of ${STEPS} after one warm-up step)`);
  console.log(
    table(
      ['', 'base', 'session (s)', 'step (s)', 'tokens/s', 'loss, steps 1..'],
      trains.map((r) => [r.device, r.storage, fmt(r.sessionSeconds), fmt(r.stepSeconds, 3), fmt(r.tokensPerSecond), r.losses.map((l) => l.toFixed(5)).join(' ')]),
    ),
  );
  for (const storage of storages) {
    const [tc, tw] = [trains.find((r) => r.storage === storage && r.device === 'cpu')!, trains.find((r) => r.storage === storage && r.device === 'webgpu')!];
    const maxDiff = Math.max(...tc.losses.map((l, i) => Math.abs(l - tw.losses[i]!)));
    console.log(`${storage}: WebGPU / CPU tokens/s ${ratio(tw.tokensPerSecond, tc.tokensPerSecond)}; largest loss difference ${maxDiff.toExponential(2)}`);
  }
  const json = args.get('json');
  if (typeof json === 'string') writeFileSync(json, JSON.stringify({ machine: machineDescription(), probes, chats, trains }, null, 2));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
