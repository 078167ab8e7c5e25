/**
 * bench:train --base int8,int4: the LoRA training step on a compressed frozen base against the F32
 * base, in ONE process with the steps interleaved (f32, int8, int4, f32, ...) so that every side
 * sees the same load on a shared machine. Same model, data, seed and initial LoRA factors for all.
 *
 *   npm run bench:train -- --base int8,int4 [--layers 8] [--steps 6] [--seq 256] [--profile] [--expand]
 *
 * The data is learnable (each sequence follows t[i+1] = (5 t[i] + 7 + i mod 3) mod 509 + 3 from a
 * random start, so the loss falls as LoRA learns the rule); the validation loss is the mean loss
 * on 2 held-out batches before and after the timed steps (apply = 0: the step graph then only
 * evaluates). `--expand` adds each base with compressedCompute off (today's DequantizeLinear +
 * F32 GEMM path) for comparison. `--profile` profiles one step of each session with ORT's profiler
 * and prints the top ops.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import type { BaseStorage } from '../src/engine/models/base-storage.js';
import { fmt, intArg, log, machineDescription, median, table, WORK_DIR } from './lib.js';
import { ensureBenchModel } from './model.js';
import { BENCH_LORA, benchStepOptions, initialState } from './step-feeds.js';

/** bench/train.ts's profile summary, passed in (importing train.ts here would be a cycle). */
type SummarizeProfile = (events: never[]) => { stepMs: number; kernelMs: number; byOp: [string, number, number][] };

const THREADS = 2;
const BATCH = 4;
const LR = 1e-3;

interface Side {
  label: string;
  storage: BaseStorage;
  compressed: boolean;
  session: ort.InferenceSession;
  baseMiB: number;
  state: Record<string, ort.Tensor>;
  times: number[];
  losses: number[];
  valBefore: number;
  valAfter: number;
  profile?: ReturnType<SummarizeProfile>;
}

const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

export async function baseComparison(args: Map<string, string | true>, summarizeProfile: SummarizeProfile): Promise<void> {
  const { loadModel } = await import('../src/engine/models/load.js');
  const { buildTrainStepGraph, trainableTensors } = await import('../src/engine/train/step-graph.js');
  const { writeModelDir } = await import('../src/engine/onnx/serialize.js');
  const { createSession, floatTensor, int64Tensor } = await import('../src/engine/runtime/session.js');

  const quick = args.has('quick');
  const layers = intArg(args, 'layers', quick ? 4 : 8);
  const steps = intArg(args, 'steps', quick ? 3 : 6);
  const seq = intArg(args, 'seq', 256);
  const bases = String(args.get('base')).split(',').filter(Boolean) as BaseStorage[];
  const N = BATCH * seq;
  log(`bench:train --base ${bases.join(',')}  ${machineDescription()}; load ${loadavg()}`);
  const m = await ensureBenchModel({ layers });
  const model = await loadModel(m.hfDir);
  const opts = benchStepOptions(N);

  // Same initial LoRA factors for every side.
  let s = 12345;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const start = initialState(trainableTensors(model.config, opts), rand);
  const batch = (seed: number) => {
    let r = seed * 7919 + 17;
    const next = () => (r = (Math.imul(r, 1103515245) + 12345) >>> 0);
    const ids: number[] = [];
    for (let b = 0; b < BATCH; b++) {
      let t = 3 + (next() % 509);
      for (let i = 0; i <= seq; i++) {
        ids.push(t);
        t = ((5 * t + 7 + (i % 3)) % 509) + 3;
      }
    }
    const input = ids.filter((_, i) => i % (seq + 1) !== seq);
    const target = ids.filter((_, i) => i % (seq + 1) !== 0);
    return { input_ids: int64Tensor(input, [BATCH, seq]), targets: int64Tensor(target, [BATCH, seq]) };
  };
  const common = {
    loss_weight: floatTensor(new Float32Array(N).fill(1), [BATCH, seq]),
    loss_scale: floatTensor(Float32Array.of(1 / N), []),
    lr: floatTensor(Float32Array.of(LR), []),
  };

  const sides: Side[] = [];
  const configs: [BaseStorage, boolean][] = [['f32', false], ...bases.map((b) => [b, true] as [BaseStorage, boolean])];
  if (args.has('expand')) configs.push(...bases.map((b) => [b, false] as [BaseStorage, boolean]));
  for (const [storage, compressed] of configs) {
    const label = storage === 'f32' ? 'f32' : `${storage}${compressed ? '' : ' (expanded)'}`;
    log(`building ${label} ...`);
    const graph = buildTrainStepGraph(model.config, model.weights, { ...opts, baseStorage: storage, compressedCompute: compressed });
    let bytes = 0;
    for (const init of graph.initializers.values()) if (init.bytes.byteLength >= 4096) bytes += init.bytes.byteLength;
    const dir = path.join(WORK_DIR, `base-compare-${process.pid}-${sides.length}`);
    const { modelPath } = await writeModelDir(graph, dir);
    let session: ort.InferenceSession;
    let profileDir: string | undefined;
    if (args.has('profile')) {
      profileDir = path.join(WORK_DIR, `base-compare-profile-${process.pid}-${sides.length}`);
      rmSync(profileDir, { recursive: true, force: true });
      mkdirSync(profileDir, { recursive: true });
      session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: THREADS, interOpNumThreads: 1, executionMode: 'sequential', enableProfiling: true, profileFilePrefix: path.join(profileDir, 'p') });
    } else {
      session = await createSession(modelPath, { threads: THREADS });
    }
    rmSync(dir, { recursive: true, force: true });
    const state = { ...start }; // each side replaces its own tensors as it steps
    sides.push({ label, storage, compressed, session, baseMiB: bytes / 2 ** 20, state, times: [], losses: [], valBefore: NaN, valAfter: NaN, ...(profileDir ? { profileDir } : {}) } as Side);
  }

  const run = async (side: Side, feeds: Record<string, ort.Tensor>, step: number, apply: boolean) => {
    const out = await side.session.run({ ...common, ...side.state, ...feeds, step: floatTensor(Float32Array.of(step), []), apply: floatTensor(Float32Array.of(apply ? 1 : 0), []) });
    if (apply) for (const p of ['params', 'adam.m', 'adam.v', 'acc']) side.state[p] = out[`new.${p}`]!;
    return (out.loss_sum!.data as Float32Array)[0]! / N;
  };
  const validation = async (side: Side) => ((await run(side, batch(1001), 1, false)) + (await run(side, batch(1002), 1, false))) / 2;
  for (const side of sides) side.valBefore = await validation(side); // also the warm-up run
  const loads = [loadavg()];
  for (let i = 0; i < steps; i++) {
    const feeds = batch(i);
    for (const side of sides) {
      const t = performance.now();
      side.losses.push(await run(side, feeds, i + 1, true));
      side.times.push((performance.now() - t) / 1000);
      log(`step ${i + 1} ${side.label}: ${side.times.at(-1)!.toFixed(3)} s loss ${side.losses.at(-1)!.toFixed(4)}`);
    }
  }
  loads.push(loadavg());
  for (const side of sides) side.valAfter = await validation(side);
  // The profile summarises the last run: one more training step.
  if (args.has('profile')) for (const side of sides) await run(side, batch(0), steps + 1, true);
  for (const side of sides) {
    const dir = (side as Side & { profileDir?: string }).profileDir;
    if (dir) {
      side.session.endProfiling();
      const file = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
      if (file) side.profile = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')));
      if (!process.env.KEEP_PROFILE) rmSync(dir, { recursive: true, force: true });
    }
    await side.session.release();
  }

  const f32 = sides[0]!;
  // The first timed step still grows ORT's arena: the median of the rest when there are several.
  const settled = (x: number[]) => (x.length > 2 ? x.slice(1) : x);
  const tps = (side: Side) => N / median(settled(side.times));
  console.log('');
  console.log(`Training step on a compressed base vs F32, one process, steps interleaved: random SmolLM2-135M-shaped llama, ${layers} layers, LoRA r${BENCH_LORA.rank}/alpha ${BENCH_LORA.alpha} on all 7 projections, batch ${BATCH} x ${seq}, lr ${LR}, ${THREADS} threads, ${steps} steps`);
  console.log(`Machine: ${machineDescription()}; load average (1/5/15 min) ${loads.join(' -> ')}; ${new Date().toISOString()}`);
  console.log('');
  console.log(table(['base', 'step s (median)', 'tokens/s', 'vs f32', 'stored base MiB', 'val loss before', 'val loss after', 'after vs f32'], sides.map((side) => [
    side.label,
    fmt(median(settled(side.times)), 3),
    fmt(tps(side), 0),
    `${fmt(tps(side) / tps(f32), 2)}x`,
    fmt(side.baseMiB, 0),
    fmt(side.valBefore, 4),
    fmt(side.valAfter, 4),
    `${fmt((100 * (side.valAfter - f32.valAfter)) / f32.valAfter, 2)}%`,
  ])));
  for (const side of sides) {
    if (!side.profile) continue;
    const p = side.profile;
    console.log('');
    console.log(`ORT profile, ${side.label}: last run ${fmt(p.stepMs, 0)} ms, kernels ${fmt(p.kernelMs, 0)} ms`);
    console.log(table(['top ops by type', 'ms', 'share', 'calls'], p.byOp.slice(0, 10).map(([n, ms, c]) => [n, ms, `${fmt((100 * ms) / p.kernelMs, 1)}%`, String(c)])));
  }
}
