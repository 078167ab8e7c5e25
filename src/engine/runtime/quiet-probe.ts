/**
 * Runs a GPU provider's probe sessions in a child process, so that what its native libraries
 * print straight to the terminal (Dawn's "Warning: Couldn't load Vulkan: libvulkan.so.1 ..."
 * when no Vulkan driver is installed, which ORT's log level does not silence) never reaches the
 * person: the child's stderr is captured and turned into a reason in words. A provider that
 * crashes or hangs while starting costs the child, not the caller.
 *
 * The child is plain Node (no TypeScript, no build step): the same binary as this process
 * (`ELECTRON_RUN_AS_NODE` in the app), given the probe graphs and inputs as files. It loads
 * onnxruntime-node from where this process resolves it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { ResolvedDevice } from './session.js';

export interface ProbeGraph {
  model: Uint8Array;
  input: Float32Array;
  dims: number[];
}

export interface ChildProbeResult {
  /** Outputs of the check, speed and half-precision graphs (undefined when that step failed). */
  check?: Float32Array;
  speed?: { out: Float32Array; gflops: number; bulkGflops?: number };
  half?: Float32Array;
  /** The first failure, in ORT's words (a session that would not start, a run that threw). */
  error?: string;
  /** What the provider's native code printed, for the reason in words. */
  stderr: string;
  /** Set when the child itself died or hung. */
  crashed?: string;
}

const MARK = 'ATTUNE_PROBE_RESULT ';

/** The child's program (CommonJS): runs the three graphs on one provider, writes outputs as files. */
const CHILD = `
const fs = require('fs');
const path = require('path');
const a = JSON.parse(process.env.ATTUNE_PROBE_ARGS);
const ort = require(a.ort);
const floats = (f) => { const b = fs.readFileSync(f); return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); };
const save = (name, y) => fs.writeFileSync(path.join(a.dir, name), Buffer.from(y.buffer, y.byteOffset, y.byteLength));
async function withSession(name, fn) {
  const s = await ort.InferenceSession.create(path.join(a.dir, name + '.onnx'), { executionProviders: [a.device], logSeverityLevel: 4, intraOpNumThreads: a.threads, graphOptimizationLevel: 'all' });
  try { return await fn(s, { x: new ort.Tensor('float32', floats(path.join(a.dir, name + '.x')), a.dims[name]) }); } finally { await s.release(); }
}
(async () => {
  const out = {};
  try {
    await withSession('check', async (s, feeds) => save('check.y', (await s.run(feeds)).y.data));
    const timed = async (s, feeds) => {
      let best = Infinity, spent = 0;
      for (let i = 0; i < 5 && spent < 1500; i++) {
        const t = performance.now();
        await s.run(feeds);
        const ms = performance.now() - t;
        best = Math.min(best, ms);
        spent += ms;
      }
      return best;
    };
    out.gflops = await withSession('speed', async (s, feeds) => {
      save('speed.y', (await s.run(feeds)).y.data);
      return a.flop / ((await timed(s, feeds)) / 1000) / 1e9;
    });
    // The training-sized run only where it takes well under a second (not on a software GPU).
    if (a.bulkFlop && out.gflops >= a.bulkMinGflops) {
      out.bulkGflops = await withSession('bulk', async (s, feeds) => {
        await s.run(feeds);
        return a.bulkFlop / ((await timed(s, feeds)) / 1000) / 1e9;
      });
    }
    try { await withSession('half', async (s, feeds) => save('half.y', (await s.run(feeds)).y.data)); } catch { /* no half precision */ }
  } catch (e) {
    out.error = String((e && e.message) || e);
  }
  process.stdout.write('\\n${MARK}' + JSON.stringify(out) + '\\n');
})();
`;

/**
 * Runs `graphs` on `device` in a child process. `flop` is the speed graph's work per run; the
 * result carries the outputs for the caller to compare with the CPU's.
 */
export async function probeInChild(
  device: ResolvedDevice,
  graphs: { check: ProbeGraph; speed: ProbeGraph; half: ProbeGraph; bulk?: ProbeGraph },
  opts: { flop: number; bulkFlop?: number; bulkMinGflops?: number; threads: number; timeoutMs?: number },
): Promise<ChildProbeResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'attune-probe-'));
  try {
    const dims: Record<string, number[]> = {};
    for (const [name, g] of Object.entries(graphs)) {
      await writeFile(path.join(dir, `${name}.onnx`), g.model);
      await writeFile(path.join(dir, `${name}.x`), new Uint8Array(g.input.buffer, g.input.byteOffset, g.input.byteLength));
      dims[name] = g.dims;
    }
    const args = { ort: createRequire(import.meta.url).resolve('onnxruntime-node'), dir, device, threads: opts.threads, dims, flop: opts.flop, bulkFlop: opts.bulkFlop, bulkMinGflops: opts.bulkMinGflops ?? 0 };
    const run = await runChild(args, opts.timeoutMs ?? 120_000);
    const floats = async (name: string): Promise<Float32Array | undefined> => {
      try {
        const b = await readFile(path.join(dir, name));
        return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      } catch {
        return undefined;
      }
    };
    if (!run.result) return { stderr: run.stderr, crashed: run.crashed ?? 'it stopped without an answer' };
    const speedOut = await floats('speed.y');
    return {
      check: await floats('check.y'),
      speed: speedOut && typeof run.result.gflops === 'number' ? { out: speedOut, gflops: run.result.gflops, bulkGflops: run.result.bulkGflops } : undefined,
      half: await floats('half.y'),
      error: run.result.error,
      stderr: run.stderr,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function runChild(args: object, timeoutMs: number): Promise<{ result?: { gflops?: number; bulkGflops?: number; error?: string }; stderr: string; crashed?: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', CHILD], {
      env: { ...process.env, ATTUNE_PROBE_ARGS: JSON.stringify(args), ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-20_000)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const finish = (crashed?: string) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(MARK));
      let result: { gflops?: number; bulkGflops?: number; error?: string } | undefined;
      try {
        result = line ? JSON.parse(line.slice(MARK.length)) : undefined;
      } catch {
        result = undefined;
      }
      resolve({ result, stderr, crashed: result ? undefined : crashed });
    };
    child.once('error', (e) => finish(`it could not be started (${e.message})`));
    child.once('close', (code, signal) =>
      finish(timedOut ? `it did not answer within ${Math.round(timeoutMs / 1000)} seconds` : `it crashed while starting (${signal ?? `exit code ${code}`})`),
    );
  });
}

/** What a provider's native output says, in words; undefined when it says nothing we know. */
export function nativeReason(stderr: string): string | undefined {
  const vulkan = /Couldn't load Vulkan: (\S+?): ([^\n]*)/.exec(stderr);
  if (vulkan) {
    const lib = path.basename(vulkan[1]!);
    return /cannot open shared object|no such file/i.test(vulkan[2]!)
      ? `the Vulkan graphics library (${lib}) is not installed, so it cannot reach a graphics card`
      : `the Vulkan graphics library (${lib}) could not be loaded (${vulkan[2]!.trim()}), so it cannot reach a graphics card`;
  }
  if (/No (Vulkan )?(adapters|physical devices|ICD)/i.test(stderr)) return 'it found no graphics card with a working Vulkan driver';
  return undefined;
}
