/**
 * Shared helpers of the benchmarks: child processes (one per engine and repeat, so that peak RSS
 * is per engine), medians, peak RSS, machine description and plain-text tables.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(BENCH_DIR, '..');
export const WORK_DIR = path.join(BENCH_DIR, '.work');

/** Peak resident set size of this process in MiB (VmHWM; falls back to resourceUsage). */
export function peakRssMiB(): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    /* not Linux */
  }
  return process.resourceUsage().maxRSS / 1024;
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Command-line flags: `--name value` and `--flag` (true). */
export function parseArgs(argv: string[]): Map<string, string | true> {
  const out = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) {
      out.set(a.slice(2, eq), a.slice(eq + 1));
    } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) {
      out.set(a.slice(2), argv[++i]!);
    } else {
      out.set(a.slice(2), true);
    }
  }
  return out;
}

export function intArg(args: Map<string, string | true>, name: string, fallback: number): number {
  const v = args.get(name);
  if (v === undefined || v === true) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
}

let niceLevel = 0;

/**
 * Runs the measured children at this nice level (`--nice -10`: needs root for < 0). On a shared
 * 2-core machine other processes otherwise take a varying share of the cores from every engine.
 */
export function setNice(level: number): void {
  if (!Number.isInteger(level) || level < -20 || level > 19) throw new Error(`--nice must be an integer from -20 to 19, got ${level}`);
  niceLevel = level;
}

export function niceArg(args: Map<string, string | true>): number {
  const v = args.get('nice');
  const n = v === undefined || v === true ? 0 : Number(v);
  setNice(n);
  return n;
}

const RESULT_PREFIX = '@@BENCH_RESULT ';

/** A child prints its result with this; the parent picks the line out of its stdout. */
export function emitResult(result: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

export interface ChildRun<T> {
  result: T;
  seconds: number;
}

/**
 * Runs a command, echoes its stderr (progress) indented, and returns the JSON it printed with
 * `emitResult`. Throws with the tail of its output when it fails.
 */
export function runChild<T>(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, label = cmd): Promise<ChildRun<T>> {
  const t0 = performance.now();
  if (niceLevel !== 0) {
    args = ['-n', String(niceLevel), cmd, ...args];
    cmd = 'nice';
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let tail = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      const s = d.toString();
      tail = (tail + s).slice(-4000);
      if (process.env.BENCH_VERBOSE) process.stderr.write(s.replace(/^/gm, `    [${label}] `));
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || !line) {
        reject(new Error(`${label} failed (exit ${code ?? signal}):\n${(tail + stdout.slice(-2000)).trim()}`));
        return;
      }
      resolve({ result: JSON.parse(line.slice(RESULT_PREFIX.length)) as T, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

/** A child running a bench TypeScript file under tsx with the same Node. */
export function runTsChild<T>(file: string, args: string[], env: NodeJS.ProcessEnv = {}, label?: string): Promise<ChildRun<T>> {
  return runChild<T>(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, file), ...args], env, label ?? `${file} ${args.join(' ')}`);
}

/** SIMD features that decide the kernels ORT, llama.cpp and PyTorch pick (x86 flags, Arm features). */
const SIMD_FLAGS = [
  'sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx_vnni', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx512_bf16', 'avx512_fp16',
  'amx_tile', 'amx_bf16', 'amx_int8', 'amx_fp16', 'asimd', 'asimddp', 'sve', 'sve2', 'i8mm', 'bf16',
];

export interface CpuInfo {
  model: string;
  /** The SIMD flags of SIMD_FLAGS this CPU has, in that order. */
  simd: string[];
  logicalCpus: number;
}

/** CPU model and SIMD flags from /proc/cpuinfo (os.cpus() elsewhere, without flags). */
export function cpuInfo(cpuinfo?: string): CpuInfo {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      text = '';
    }
  }
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.+)$`, 'mi').exec(text)?.[1]?.trim();
  const name = field('model name') ?? field('Model name') ?? field('Hardware') ?? os.cpus()[0]?.model ?? 'unknown CPU';
  // A KVM guest often shows only "AMD EPYC": the family tells Zen 4 (25) from Zen 5 (26).
  const family = field('cpu family');
  const model = family ? `${name} (family ${family}, model ${field('model') ?? '?'})` : name;
  const have = new Set((field('flags') ?? field('Features') ?? '').split(/\s+/));
  return { model, simd: SIMD_FLAGS.filter((f) => have.has(f)), logicalCpus: os.availableParallelism?.() ?? os.cpus().length };
}

/** The 1-, 5- and 15-minute load averages, e.g. "load average 1.92 1.40 1.10". */
export function loadLine(): string {
  return `load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}

/**
 * One line for every bench's header: CPU model, SIMD flags, CPUs, memory and the load. Machines
 * change between sessions (Zen 4 / Zen 5, AVX-512 or not), and the peers' ratios with them.
 */
export function machineDescription(): string {
  const cpu = cpuInfo();
  const mem = (os.totalmem() / 2 ** 30).toFixed(0);
  return `${cpu.model}, ${cpu.logicalCpus} logical CPUs, SIMD [${cpu.simd.join(' ') || 'none found'}], ${mem} GiB RAM, ${loadLine()}`;
}

/**
 * The peer's best over thread counts, figure by figure: llama.cpp's threads spin at every barrier,
 * so on a shared 2-core machine one thread is sometimes many times faster than two. `runs` holds
 * one result per thread count; `better` says which of two values of a figure is better.
 */
export function bestOverThreads<T extends { threads: number }>(runs: T[], figure: (r: T) => number, better: 'higher' | 'lower' = 'higher'): { value: number; threads: number } {
  let best = { value: NaN, threads: 0 };
  for (const r of runs) {
    const v = figure(r);
    if (!Number.isFinite(v)) continue;
    if (!Number.isFinite(best.value) || (better === 'higher' ? v > best.value : v < best.value)) best = { value: v, threads: r.threads };
  }
  return best;
}

/** Right-aligned plain-text table (first column left-aligned). */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]!) : String(c).padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export function fmt(x: number, digits?: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  const d = digits ?? (Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2);
  return x.toFixed(d);
}

export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}x` : 'n/a';
}

export function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/** The engine code measured: HEAD commit, plus the uncommitted files under src/ (others work here too). */
export function engineSource(): string {
  const git = (...a: string[]) => spawnSync('git', a, { cwd: REPO_ROOT, encoding: 'utf8' }).stdout?.trimEnd() ?? '';
  const head = git('rev-parse', '--short', 'HEAD').trim() || 'unknown';
  const dirty = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean).map((l) => l.slice(3));
  return dirty.length ? `${head} + uncommitted changes in ${dirty.join(', ')}` : `${head} (clean)`;
}
