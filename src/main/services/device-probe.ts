/**
 * The device probe, run in a child process (src/main/jobs/probe-worker.ts): loading a GPU driver
 * can crash the process that loads it, and the window must survive that. The child probes and
 * reports; when it crashes, hangs or fails, the answer is the CPU, with the reason in plain words.
 * What the child found (or the CPU-only answer) is then kept as the engine's probe result in this
 * process and in the cache, so nothing in the main process probes again.
 */
import * as engine from '../../engine/index.js';
import type { EngineFacade } from '../engine.js';
import type { JobRunner } from '../jobs/runner.js';

type DeviceProbe = engine.DeviceProbe;

/** What the probe child sends its parent. */
export type ProbeMessage = { type: 'probes'; probes: DeviceProbe[] } | { type: 'failed'; message: string };

export interface ProbeOutcome {
  probes: DeviceProbe[];
  /** Set when the child did not report: why the CPU is used. */
  note?: string;
}

export const PROBE_CRASHED = 'the device check crashed; using the CPU';
export const PROBE_TIMED_OUT = 'the device check did not finish in time; using the CPU';
export const PROBE_FAILED = 'the device check failed; using the CPU';

/** A GPU probe on a software device takes seconds; a hung driver never answers. */
export const PROBE_TIMEOUT_MS = 120_000;

function isProbeMessage(m: unknown): m is ProbeMessage {
  if (!m || typeof m !== 'object') return false;
  const r = m as { type?: unknown; probes?: unknown; message?: unknown };
  return (r.type === 'probes' && Array.isArray(r.probes)) || (r.type === 'failed' && typeof r.message === 'string');
}

/** Runs one probe child and says what works; never throws, whatever the child does. */
export function probeInChild(runner: JobRunner, opts: { timeoutMs?: number } = {}): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve) => {
    let settled = false;
    const done = (o: ProbeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const cpuOnly = (note: string, detail?: string): ProbeOutcome => ({ probes: engine.fallbackProbes(detail ? `${note} (${detail})` : note), note });
    let child: ReturnType<JobRunner['spawn']>;
    try {
      child = runner.spawn();
    } catch (e) {
      resolve(cpuOnly(PROBE_FAILED, (e as Error).message));
      return;
    }
    let report: ProbeMessage | undefined;
    const timer = setTimeout(() => {
      child.kill();
      done(cpuOnly(PROBE_TIMED_OUT));
    }, opts.timeoutMs ?? PROBE_TIMEOUT_MS);
    timer.unref?.();
    child.onMessage((m) => {
      if (isProbeMessage(m)) report = m;
    });
    child.onExit(({ code, signal }) => {
      if (report?.type === 'probes') return done({ probes: report.probes });
      if (report?.type === 'failed') return done(cpuOnly(PROBE_FAILED, report.message));
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      done(cpuOnly(PROBE_CRASHED, how));
    });
  });
}

/**
 * The app's probe: one child per app run, started on first need; its result becomes this
 * process's probe result (engine.rememberProbes), so resolveDevice never probes in main. A
 * crash is remembered for a day, not the week a good probe is kept, so a fixed driver is seen.
 */
export function childDeviceProbe(runner: JobRunner, opts: { timeoutMs?: number } = {}): () => Promise<ProbeOutcome> {
  let pending: Promise<ProbeOutcome> | undefined;
  return () =>
    (pending ??= probeInChild(runner, opts).then(async (o) => {
      await engine.rememberProbes(o.probes, o.note ? { days: 1 } : {});
      return o;
    }));
}

/**
 * The facade with every call that may choose a device waiting for the child's probe first, so
 * that the engine's resolveDevice finds the result and never loads a GPU driver in main.
 */
export function withChildProbe<F extends Pick<EngineFacade, 'devices' | 'openChat' | 'serve'>>(facade: F, probe: () => Promise<ProbeOutcome>): F {
  return {
    ...facade,
    devices: async (preferred) => {
      await probe();
      return facade.devices(preferred);
    },
    openChat: async (opts) => {
      if (opts.device !== 'cpu') await probe();
      return facade.openChat(opts);
    },
    serve: async (opts) => {
      if (opts.device !== 'cpu') await probe();
      return facade.serve(opts);
    },
  };
}
