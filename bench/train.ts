/**
 * Training speed and memory: Attune's LoRA training step (its own ONNX graph on ONNX Runtime's
 * CPU provider) next to the same step in PyTorch (bench/train_torch.py), in the same run.
 *
 *   npm run bench:train [-- --quick] [-- --layers N] [-- --steps S] [-- --warmup W] [-- --repeats R]
 *                       [-- --no-torch] [-- --no-profile] [-- --profile-layers N] [-- --profile-warmup W]
 *                       [-- --nice -10] [-- --json]
 *
 * The step (PERF-NOTES.md): SmolLM2-135M shapes with random weights, LoRA rank 16 / alpha 32 on all
 * seven projections, batch 4 x 512 tokens, F32, 2 threads, loss on every token, AdamW on the
 * LoRA factors with global-norm clipping at 1.0. Each engine runs in its own child process
 * (peak RSS per engine), engines interleaved; a child runs `warmup` + `steps` steps and reports the
 * median step time after the warm-up steps; with several repeats the median of the medians.
 *
 * Also printed:
 *  - the machine's F32 GEMM rate in ORT (one-node graphs: 2048x576 by 576x1536 as MatMul and as
 *    Gemm with transB like the engine's projections, plus the ffn_down and a wide LM-head-like
 *    shape) and in PyTorch;
 *  - the step's model-FLOPs utilisation against the best ORT GEMM rate (formula in stepFlops);
 *  - ORT's profile of one step: top ops by total time, grouped by op type and by node name.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import ort from 'onnxruntime-node';
import {
  BENCH_DIR,
  emitResult,
  niceArg,
  fmt,
  intArg,
  log,
  machineDescription,
  median,
  parseArgs,
  peakRssMiB,
  ratio,

  runChild,
  runTsChild,
  engineSource,
  table,
  WORK_DIR,
} from './lib.js';
import { ensureBenchModel, SMOLLM2_135M } from './model.js';
import { BENCH_LORA, benchStepOptions, STATE_NAMES, stepFeeds } from './step-feeds.js';

const THREADS = 2;
const { rank: RANK, alpha: ALPHA, maxGradNorm: MAX_GRAD_NORM } = BENCH_LORA;
const BATCH = 4;
const SEQ = 512;
const LR = 2e-4;
/** GEMM shapes probed for the peak: [label, M, K, N, transB]. The first is the reference shape. */
const GEMM_SHAPES: [string, number, number, number, boolean][] = [
  ['MatMul 2048x576 . 576x1536', 2048, 576, 1536, false],
  ['Gemm transB 2048x576 . (1536x576)T (engine layout)', 2048, 576, 1536, true],
  ['Gemm transB 2048x1536 . (576x1536)T (ffn_down)', 2048, 1536, 576, true],
  ['Gemm transB 2048x576 . (8192x576)T (wide, LM-head-like)', 2048, 576, 8192, true],
];

// ------------------------------------------------------------------ FLOPs

/**
 * Model FLOPs of one training step (multiply-add = 2 FLOPs), N = batch x seq tokens, per layer:
 *   frozen projections  P = D(q + 2kv) + qD + 3DF weights (q = H*hd, kv = KV*hd)
 *     forward 2NP, backward 2NP (input gradient only: the base weights are frozen)
 *   LoRA factors        R = sum over the 7 projections of r(in + out)
 *     forward 2NR, backward 4NR (the factor gradients and the input gradient)
 *   attention           forward 4 B H T^2 hd (QK^T and PV over the full T x T square, as the
 *                       graph computes it; causal-useful work is half), backward 2x forward
 * plus the tied LM head: forward 2NVD, backward 2NVD (hidden-state gradient only, frozen table).
 * Elementwise work (norms, RoPE, softmax, SiLU, AdamW) is not counted.
 */
export function stepFlops(layers: number, batch = BATCH, seq = SEQ, rank = RANK): { total: number; parts: Record<string, number> } {
  const { hidden: D, heads: H, kvHeads: KV, headDim: hd, ffn: Fd, vocab: V } = SMOLLM2_135M;
  const N = batch * seq;
  const q = H * hd;
  const kv = KV * hd;
  const P = D * (q + 2 * kv) + q * D + 3 * D * Fd;
  const shapes: [number, number][] = [[q, D], [kv, D], [kv, D], [D, q], [Fd, D], [Fd, D], [D, Fd]];
  const R = shapes.reduce((s, [o, i]) => s + rank * (o + i), 0);
  const attn = 4 * batch * H * seq * seq * hd;
  const parts = {
    frozenForward: layers * 2 * N * P,
    frozenBackward: layers * 2 * N * P,
    loraForward: layers * 2 * N * R,
    loraBackward: layers * 4 * N * R,
    attentionForward: layers * attn,
    attentionBackward: layers * 2 * attn,
    headForward: 2 * N * V * D,
    headBackward: 2 * N * V * D,
  };
  return { total: Object.values(parts).reduce((a, b) => a + b, 0), parts };
}

// ------------------------------------------------------------------ children

interface AttuneTrainResult {
  engine: 'attune';
  buildSeconds: number;
  sessionSeconds: number;
  stepSeconds: number[];
  /** process CPU seconds (all threads) of each timed step: about 2 x wall when nothing else competes */
  stepCpuSeconds: number[];
  losses: number[];
  gradNorms: number[];
  loraParams: number;
  nodes: number;
  peakRssMiB: number;
  peakRssStepsMiB: number;
  profile?: ProfileSummary;
}

interface TorchResult {
  torch: string;
  threads: number;
  blas: string;
  gemm_gflops: number;
  build_seconds?: number;
  step_seconds?: number[];
  step_cpu_seconds?: number[];
  losses?: number[];
  grad_norms?: number[];
  lora_params?: number;
  peak_rss_mib?: number;
  peak_rss_steps_mib?: number;
}

interface GemmResult {
  /** label -> [best, median] GFLOP/s */
  rates: Record<string, [number, number]>;
}

interface ProfileSummary {
  stepMs: number;
  kernelMs: number;
  byOp: [string, number, number][]; // op type, ms, calls
  byName: [string, number, number][]; // node-name group, ms, calls
  byPhase: [string, number][];
}

/** Resets the peak RSS counter (Linux: "5" to clear_refs), so VmHWM covers what follows. */
function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    /* not Linux: the peak then includes the build */
  }
}

function sessionOptions(profilePrefix?: string): ort.InferenceSession.SessionOptions {
  // The options of src/engine/runtime/session.ts createSession (cpu, threads 2), plus the
  // profiler when asked: createSession has no switch for it.
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    ...(profilePrefix ? { enableProfiling: true, profileFilePrefix: profilePrefix } : {}),
  };
}

async function attuneChild(hfDir: string, steps: number, warmup: number, profile: boolean): Promise<void> {
  const { loadModel } = await import('../src/engine/models/load.js');
  const { buildTrainStepGraph, trainableTensors } = await import('../src/engine/train/step-graph.js');
  const { writeModelDir } = await import('../src/engine/onnx/serialize.js');
  const { createSession, floatTensor } = await import('../src/engine/runtime/session.js');

  const model = await loadModel(hfDir);
  const opts = benchStepOptions(BATCH * SEQ);
  const t0 = performance.now();
  const graph = buildTrainStepGraph(model.config, model.weights, opts);
  const nodes = graph.nodes.length;
  const dir = path.join(WORK_DIR, `train-graph-${process.pid}`);
  const { modelPath } = await writeModelDir(graph, dir);
  const t1 = performance.now();
  let profileDir: string | undefined;
  let session: ort.InferenceSession;
  if (profile) {
    profileDir = path.join(WORK_DIR, `profile-${process.pid}`);
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
    session = await ort.InferenceSession.create(modelPath, sessionOptions(path.join(profileDir, 'attune-train')));
  } else {
    session = await createSession(modelPath, { threads: THREADS });
  }
  const t2 = performance.now();
  rmSync(dir, { recursive: true, force: true });
  const peakBuild = peakRssMiB();
  (globalThis as { gc?: () => void }).gc?.();
  resetPeakRss();

  const { fixed, state, loraParams } = stepFeeds(trainableTensors(model.config, opts), BATCH, SEQ, LR);
  const N = BATCH * SEQ;
  const stepSeconds: number[] = [];
  const stepCpuSeconds: number[] = [];
  const losses: number[] = [];
  const gradNorms: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const feeds = { ...fixed, ...state, step: floatTensor(Float32Array.of(i + 1), []) };
    const ts = performance.now();
    const c0 = process.cpuUsage();
    const out = await session.run(feeds);
    const dt = (performance.now() - ts) / 1000;
    const cpu = process.cpuUsage(c0);
    for (const p of STATE_NAMES) state[p] = out[`new.${p}`]!;
    const loss = (out.loss_sum!.data as Float32Array)[0]! / N;
    const norm = (out.grad_norm!.data as Float32Array)[0]!;
    losses.push(loss);
    gradNorms.push(norm);
    if (i >= warmup) {
      stepSeconds.push(dt);
      stepCpuSeconds.push((cpu.user + cpu.system) / 1e6);
    }
    log(`attune step ${i + 1}: ${dt.toFixed(3)} s loss ${loss.toFixed(4)} grad_norm ${norm.toFixed(4)}`);
  }
  const peakSteps = peakRssMiB();
  let summary: ProfileSummary | undefined;
  if (profile && profileDir) {
    session.endProfiling();
    await session.release();
    const file = readdirSync(profileDir).filter((f) => f.endsWith('.json')).map((f) => path.join(profileDir!, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    if (!file) throw new Error(`ORT wrote no profile into ${profileDir}`);
    summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[]);
    rmSync(profileDir, { recursive: true, force: true });
  } else {
    await session.release();
  }
  emitResult({
    engine: 'attune',
    buildSeconds: (t1 - t0) / 1000,
    sessionSeconds: (t2 - t1) / 1000,
    stepSeconds,
    stepCpuSeconds,
    losses,
    gradNorms,
    loraParams,
    nodes,
    peakRssMiB: Math.max(peakBuild, peakSteps),
    peakRssStepsMiB: peakSteps,
    profile: summary,
  } satisfies AttuneTrainResult);
}

interface ProfileEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

/** Node-name group: layer numbers and loss-chunk numbers folded, backward nodes as grad/<forward node>. */
export function nodeGroup(name: string): string {
  let n = name.replace(/_kernel_time$/, '');
  n = n.replace(/blk\.\d+\./g, 'blk.*.').replace(/loss\.\d+\./g, 'loss.*.').replace(/adamw\.lora\.blk\.\*\.[a-z_]+\.[AB]\./g, 'adamw.*.');
  n = n.replace(/lora\.blk\.\*\.[a-z_]+\.[AB]/g, 'lora.*');
  if (n.startsWith('grad/')) {
    // grad/<forward output>/<rule node>: keep the forward value and the rule node's base name.
    const parts = n.split('/');
    return `${parts.slice(0, 2).join('/')}/${(parts[2] ?? '').replace(/_\d+$/, '')}`;
  }
  return n.replace(/_\d+$/, '');
}

function phaseOf(name: string): string {
  if (name.startsWith('grad/')) return 'backward';
  if (name.startsWith('adamw.') || /acc_sum|_sq|grad_sq|grad_norm|clip|bias_corr|b[12]_pow/.test(name)) return 'optimizer + clipping';
  if (name.startsWith('loss.') || name.startsWith('surrogate') || name.startsWith('dhidden') || name.startsWith('flat_')) return 'loss + LM head (fwd and bwd)';
  return 'forward';
}

export function summarizeProfile(events: ProfileEvent[]): ProfileSummary {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
  const last = runs[runs.length - 1];
  if (!last) throw new Error('the profile has no model_run event');
  const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= last.ts && e.ts <= last.ts + last.dur);
  const add = (m: Map<string, [number, number]>, k: string, us: number) => {
    const v = m.get(k) ?? [0, 0];
    v[0] += us;
    v[1] += 1;
    m.set(k, v);
  };
  const byOp = new Map<string, [number, number]>();
  const byName = new Map<string, [number, number]>();
  const byPhase = new Map<string, [number, number]>();
  let total = 0;
  for (const e of nodes) {
    const name = e.name.replace(/_kernel_time$/, '');
    add(byOp, e.args?.op_name ?? '?', e.dur);
    add(byName, nodeGroup(name), e.dur);
    add(byPhase, phaseOf(name), e.dur);
    total += e.dur;
  }
  const top = (m: Map<string, [number, number]>, k: number) =>
    [...m.entries()].sort((a, b) => b[1][0] - a[1][0]).slice(0, k).map(([n, [us, c]]) => [n, us / 1000, c] as [string, number, number]);
  return {
    stepMs: last.dur / 1000,
    kernelMs: total / 1000,
    byOp: top(byOp, 15),
    byName: top(byName, 15),
    byPhase: top(byPhase, 10).map(([n, ms]) => [n, ms]),
  };
}

/** F32 GEMM rates of ORT's CPU provider: one-node graphs, best and median of 20 runs after 3. */
async function gemmChild(): Promise<void> {
  const { GraphBuilder } = await import('../src/engine/onnx/builder.js');
  const { serializeGraph } = await import('../src/engine/onnx/serialize.js');
  const { createSession, floatTensor } = await import('../src/engine/runtime/session.js');
  const rates: Record<string, [number, number]> = {};
  for (const [label, m, k, n, transB] of GEMM_SHAPES) {
    const g = new GraphBuilder('gemm');
    const a = g.input('a', 'float32', [m, k]);
    const b = g.input('b', 'float32', transB ? [n, k] : [k, n]);
    g.output(transB ? g.gemm(a, b, { transB: true }, 'y') : g.matMul(a, b, 'y'), 'y');
    const session = await createSession(serializeGraph(g).model, { threads: THREADS });
    const feeds = {
      a: floatTensor(Float32Array.from({ length: m * k }, (_, i) => Math.sin(i)), [m, k]),
      b: floatTensor(Float32Array.from({ length: k * n }, (_, i) => Math.cos(i)), transB ? [n, k] : [k, n]),
    };
    for (let i = 0; i < 3; i++) await session.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await session.run(feeds);
      times.push((performance.now() - t) / 1000);
    }
    await session.release();
    const flop = 2 * m * k * n;
    rates[label] = [flop / Math.min(...times) / 1e9, flop / median(times) / 1e9];
  }
  emitResult({ rates } satisfies GemmResult);
}

// ------------------------------------------------------------------ PyTorch environment

/**
 * A Python with torch: bench/.venv made from the CPU wheel in /opt/wheels (created here, offline,
 * idempotent), else a system python3 that imports torch (Debian's python3-torch; install
 * libopenblas0-pthread with it, its reference BLAS is far too slow to compare against), else none.
 */
function torchPython(): { python?: string; note: string } {
  const venv = path.join(BENCH_DIR, '.venv');
  const venvPy = path.join(venv, 'bin', 'python');
  const imports = (py: string) => spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (existsSync(venvPy) && imports(venvPy).status === 0) return { python: venvPy, note: `bench/.venv (torch ${imports(venvPy).stdout.trim()})` };
  const wheels = existsSync('/opt/wheels') ? readdirSync('/opt/wheels').filter((f) => /^torch-.*\.whl$/.test(f)) : [];
  if (wheels.length) {
    log(`setting up bench/.venv with /opt/wheels/${wheels[0]} (offline) ...`);
    const mk = spawnSync('python3', ['-m', 'venv', '--system-site-packages', venv], { encoding: 'utf8' });
    const pip = mk.status === 0 ? spawnSync(path.join(venv, 'bin', 'pip'), ['install', '-q', '--no-index', '--no-deps', path.join('/opt/wheels', wheels[0]!)], { encoding: 'utf8' }) : mk;
    if (pip.status === 0 && imports(venvPy).status === 0) return { python: venvPy, note: `bench/.venv from /opt/wheels (torch ${imports(venvPy).stdout.trim()})` };
    log(`  could not use the wheel: ${(pip.stderr || imports(venvPy).stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
  }
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = imports(py);
    if (r.status === 0) return { python: py, note: `${py} (torch ${r.stdout.trim()}; Debian's torch is only fair with libopenblas0-pthread installed)` };
  }
  return { note: 'no PyTorch: no wheel in /opt/wheels and no system torch (apt-get install python3-torch libopenblas0-pthread gives one)' };
}

function torchChild(python: string, args: string[]): Promise<{ result: TorchResult }> {
  return runChild<TorchResult>(python, [path.join(BENCH_DIR, 'train_torch.py'), ...args], { OMP_NUM_THREADS: String(THREADS), MKL_NUM_THREADS: String(THREADS) }, 'torch');
}

// ------------------------------------------------------------------ parent

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const quick = args.has('quick');
  const steps = intArg(args, 'steps', quick ? 2 : 3);
  const warmup = intArg(args, 'warmup', quick ? 1 : 2);
  const child = args.get('child');
  if (child === 'gemm') return gemmChild();
  if (args.has('base')) return (await import('./base-compare.js')).baseComparison(args, summarizeProfile as never);
  const layers = intArg(args, 'layers', quick ? 4 : SMOLLM2_135M.layers);
  if (child === 'attune') return attuneChild(String(args.get('model')), steps, warmup, args.has('profile'));

  const repeats = intArg(args, 'repeats', 1);
  const nice = niceArg(args);
  const profileLayers = intArg(args, 'profile-layers', layers);
  // The first steps of a session still grow ORT's arena (fresh pages): profile a settled step.
  const profileWarmup = intArg(args, 'profile-warmup', quick ? 1 : 3);
  log(`bench:train  ${machineDescription()}`);
  const m = await ensureBenchModel({ layers });
  const torch = args.has('no-torch') ? { note: 'skipped (--no-torch)' } : torchPython();
  log(`PyTorch: ${torch.note}`);
  const node = (extra: string[]) => ['--layers', String(layers), '--steps', String(steps), '--warmup', String(warmup), ...extra];
  const torchArgs = ['--layers', String(layers), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(THREADS), '--batch', String(BATCH), '--seq', String(SEQ), '--rank', String(RANK), '--alpha', String(ALPHA), '--lr', String(LR), '--max-grad-norm', String(MAX_GRAD_NORM)];
  const gc = ['--expose-gc'];

  // GEMM rates at the start and at the end of the run; the best counts (others only slow it).
  const gemms: GemmResult[] = [];
  const torchGemms: number[] = [];
  const measureGemm = async () => {
    log('GEMM peak (ORT, PyTorch)');
    gemms.push((await runTsChild<GemmResult>('train.ts', ['--child', 'gemm'], {}, 'gemm')).result);
    if (torch.python) torchGemms.push((await torchChild(torch.python, ['--gemm-only'])).result.gemm_gflops);
  };
  await measureGemm();
  const loads: number[] = [os.loadavg()[0]!];

  const attune: AttuneTrainResult[] = [];
  const ref: TorchResult[] = [];
  for (let r = 0; r < repeats; r++) {
    log(`repeat ${r + 1}/${repeats}: Attune (${layers} layers, ${warmup}+${steps} steps)`);
    attune.push((await runChild<AttuneTrainResult>(process.execPath, [...gc, '--import', 'tsx', path.join(BENCH_DIR, 'train.ts'), '--child', 'attune', '--model', m.hfDir, ...node([])], {}, 'attune')).result);
    if (torch.python) {
      log(`repeat ${r + 1}/${repeats}: PyTorch`);
      ref.push((await torchChild(torch.python, torchArgs)).result);
    }
    loads.push(os.loadavg()[0]!);
  }
  await measureGemm();
  const gemmBest = (label: string) => Math.max(...gemms.map((g) => g.rates[label]![0]));
  const gemmMedian = (label: string) => Math.max(...gemms.map((g) => g.rates[label]![1]));
  const torchGemm = torchGemms.length ? Math.max(...torchGemms) : NaN;
  let profile: ProfileSummary | undefined;
  if (!args.has('no-profile')) {
    const pm = profileLayers === layers ? m : await ensureBenchModel({ layers: profileLayers });
    log(`profile: Attune, ${profileLayers} layers, ${profileWarmup} warm-up step(s) + 1 profiled step`);
    profile = (await runChild<AttuneTrainResult>(process.execPath, [...gc, '--import', 'tsx', path.join(BENCH_DIR, 'train.ts'), '--child', 'attune', '--model', pm.hfDir, '--layers', String(profileLayers), '--steps', '1', '--warmup', String(profileWarmup), '--profile'], {}, 'profile')).result.profile;
  }

  const tokens = BATCH * SEQ;
  const flops = stepFlops(layers);
  const ta = median(attune.map((x) => median(x.stepSeconds)));
  const tt = ref.length ? median(ref.map((x) => median(x.step_seconds ?? []))) : NaN;
  const ba = Math.min(...attune.flatMap((x) => x.stepSeconds));
  const bt = ref.length ? Math.min(...ref.flatMap((x) => x.step_seconds ?? [])) : NaN;
  const cpuShare = (wall: number[], cpu: number[]) => median(wall.map((w, i) => (cpu[i] ?? NaN) / w / THREADS));
  const sa = median(attune.map((x) => cpuShare(x.stepSeconds, x.stepCpuSeconds)));
  const st = median(ref.map((x) => cpuShare(x.step_seconds ?? [], x.step_cpu_seconds ?? [])));
  const ca = median(attune.flatMap((x) => x.stepCpuSeconds)) / THREADS;
  const ct = median(ref.flatMap((x) => x.step_cpu_seconds ?? [])) / THREADS;
  const peak = Math.max(...GEMM_SHAPES.map(([label]) => gemmBest(label)));
  const rows: (string | number)[][] = [
    ['step time, median (s)', fmt(ta, 2), fmt(tt, 2), ratio(tt, ta)],
    ['step time, best (s)', fmt(ba, 2), fmt(bt, 2), ratio(bt, ba)],
    [`CPU share of ${THREADS} cores during steps`, `${fmt(100 * sa, 0)}%`, `${fmt(100 * st, 0)}%`, ''],
    [`step CPU time / ${THREADS} (s)`, fmt(ca, 2), fmt(ct, 2), ratio(ct, ca)],
    ['tokens/s (median step)', tokens / ta, tokens / tt, ratio(tokens / ta, tokens / tt)],
    ['tokens/s (best step)', tokens / ba, tokens / bt, ratio(tokens / ba, tokens / bt)],
    ['achieved GFLOP/s (model FLOPs)', flops.total / ta / 1e9, flops.total / tt / 1e9, ratio(tt, ta)],
    [`MFU vs best ORT GEMM (${fmt(peak)} GFLOP/s)`, `${fmt((100 * flops.total) / ta / 1e9 / peak, 1)}%`, `${fmt((100 * flops.total) / tt / 1e9 / peak, 1)}%`, ''],
    ['peak RSS, whole child (MiB)', median(attune.map((x) => x.peakRssMiB)), median(ref.map((x) => x.peak_rss_mib ?? NaN)), ratio(median(attune.map((x) => x.peakRssMiB)), median(ref.map((x) => x.peak_rss_mib ?? NaN)))],
    ['peak RSS during steps (MiB)', median(attune.map((x) => x.peakRssStepsMiB)), median(ref.map((x) => x.peak_rss_steps_mib ?? NaN)), ratio(median(attune.map((x) => x.peakRssStepsMiB)), median(ref.map((x) => x.peak_rss_steps_mib ?? NaN)))],
    ['build (graph + session / model) (s)', fmt(median(attune.map((x) => x.buildSeconds + x.sessionSeconds)), 1), fmt(median(ref.map((x) => x.build_seconds ?? NaN)), 1), ''],
    ['loss at step 1', fmt(attune[0]?.losses[0] ?? NaN, 4), fmt(ref[0]?.losses?.[0] ?? NaN, 4), ''],
  ];
  console.log('');
  console.log(`Training step: random SmolLM2-135M-shaped llama, ${layers} layers, LoRA r${RANK}/alpha ${ALPHA} on q,k,v,o,gate,up,down, batch ${BATCH} x ${SEQ}, F32, ${THREADS} threads`);
  console.log(`median step after ${warmup} warm-up steps (${steps} timed steps per child, ${repeats} child(ren) per engine, interleaved)`);
  console.log(`Machine: ${machineDescription()}; 1-min load average during the run ${loads.map((l) => l.toFixed(1)).join(' -> ')}`);
  console.log(`PyTorch: ${torch.note}`);
  console.log(`Engine source: ${engineSource()}${nice ? `; children ran at nice ${nice}` : ''}`);
  console.log('');
  console.log(table(['figure', 'Attune (ORT)', 'PyTorch', 'Attune vs PyTorch (>1 = Attune faster/larger)'], rows));
  console.log('');
  console.log(table(['F32 GEMM, one-node graph (GFLOP/s)', 'best', 'median'], [
    ...GEMM_SHAPES.map(([label]) => [`ORT ${label}`, gemmBest(label), gemmMedian(label)]),
    ['PyTorch a @ b 2048x576 . 576x1536', torchGemm, ''],
  ]));
  console.log('');
  console.log(`model FLOPs per step: ${fmt(flops.total / 1e12, 3)} TFLOP = ` + Object.entries(flops.parts).map(([k, v]) => `${k} ${fmt(v / 1e9, 0)}`).join(' + ') + ' GFLOP');
  console.log(`Attune graph: ${attune[0]?.nodes ?? '?'} nodes, ${attune[0]?.loraParams ?? '?'} LoRA parameters (PyTorch: ${ref[0]?.lora_params ?? '?'})`);
  if (profile) {
    console.log('');
    console.log(`ORT profile of one step after ${profileWarmup} warm-up steps (${profileLayers} layers; the profiler itself slows the step): step ${fmt(profile.stepMs, 0)} ms, kernels ${fmt(profile.kernelMs, 0)} ms`);
    const pct = (ms: number) => `${fmt((100 * ms) / profile!.kernelMs, 1)}%`;
    console.log(table(['phase', 'ms', 'share'], profile.byPhase.map(([n, ms]) => [n, ms, pct(ms)])));
    console.log('');
    console.log(table(['top ops by type', 'ms', 'share', 'calls'], profile.byOp.map(([n, ms, c]) => [n, ms, pct(ms), String(c)])));
    console.log('');
    console.log(table(['top node groups (blk.* = all layers)', 'ms', 'share', 'calls'], profile.byName.map(([n, ms, c]) => [n, ms, pct(ms), String(c)])));
  }
  if (args.has('json')) console.log(JSON.stringify({ layers, gemms, torchGemms, attune, ref, profile, flops }, null, 2));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}

