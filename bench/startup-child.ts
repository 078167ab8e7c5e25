/**
 * One start of bench:startup, in its own process: a tune to its start event and its first step,
 * or a chat to its open session and first token, timed from the call (`runTuning`,
 * `ChatSession.open`), which is when a person in the app starts waiting (the app loaded the
 * engine when it started); loading the engine, from the process's own start, is timed apart.
 * bench/startup.ts runs it bundled with the engine (as the app loads it) or, with --sources,
 * from the TypeScript sources through tsx.
 *
 *   startup-child <tune|chat> <model folder> <data file> <prompt ids, comma-separated>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { emitResult } from './lib.js';

export interface StartResult {
  /** Seconds from the call to the tune's start event, or to the chat's open session. */
  ready: number;
  /** Seconds from the call to the end of the first step, or to the first token. */
  first: number;
  /** CPU seconds (all threads) of the process to `ready`: less sensitive to other load than wall time. */
  cpuReady: number;
  /** Seconds from the process's start to the engine's modules imported (tsx's start too, where used). */
  importing: number;
}

/** Seconds since this process started. */
const sinceStart = () => performance.now() / 1000;
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function tune(model: string, data: string): Promise<StartResult> {
  const { runTuning } = await import('../src/engine/index.js');
  const importing = sinceStart();
  const clock = () => sinceStart() - importing;
  const out = mkdtempSync(path.join(os.tmpdir(), 'attune-startup-run-'));
  rmSync(out, { recursive: true });
  const abort = new AbortController();
  let ready = NaN;
  let first = NaN;
  let cpuReady = NaN;
  try {
    await runTuning(
      { model, data, out, device: 'cpu', threads: 2, batchSize: 4, maxLength: 256, maxSteps: 2, trainTokens: 'none' },
      {
        signal: abort.signal,
        onEvent: (e) => {
          if (e.type === 'start') {
            ready = clock();
            cpuReady = cpuSeconds();
          }
          if (e.type === 'step' && Number.isNaN(first)) {
            first = clock();
            abort.abort();
          }
        },
      },
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return { ready, first, cpuReady, importing };
}

async function chat(modelPath: string, prompt: number[]): Promise<StartResult> {
  const { ChatSession } = await import('../src/engine/generate/chat-session.js');
  const importing = sinceStart();
  const clock = () => sinceStart() - importing;
  const session = await ChatSession.open({ modelPath, device: 'cpu', threads: 2 });
  const ready = clock();
  const cpuReady = cpuSeconds();
  await session.complete(prompt, { maxTokens: 1, temperature: 0 });
  const first = clock();
  await session.close();
  return { ready, first, cpuReady, importing };
}

const [kind, model, data, prompt] = process.argv.slice(2);
emitResult(kind === 'tune' ? await tune(model!, data!) : await chat(model!, prompt!.split(',').map(Number)));
