#!/usr/bin/env node
// The CLI runs the TypeScript sources directly through tsx, so `npx attune` works after `npm ci`
// with no build step.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { register } from 'tsx/esm/api';

register();
const { tuningProcessEnv } = await import('../src/shared/tuning-env.ts');

// Tuning in its memory-saving mode needs allocator settings that only apply from process start
// (see tuning-env.ts): run once more with them. Ctrl-C reaches both processes (one process
// group), so SIGINT is not passed on (a second one would stop the tune before its checkpoint);
// this one waits for the other's exit.
// Not for the huge-pages setting alone: a second process for a speed-up is not worth a parent
// that can be killed without its child (a test SIGKILLs the CLI and resumes the run).
const env = process.argv[2] === 'tune' ? tuningProcessEnv(process.argv.includes('--recompute-activations') || resumesMemorySaving(), false) : {};
const missing = Object.keys(env).filter((k) => process.env[k] === undefined);
if (process.platform === 'linux' && missing.length) {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, ...env } });
  process.on('SIGINT', () => {});
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
} else {
  await import('../src/cli/main.ts');
}

/** `tune --resume <runDir>` of a run started in the memory-saving mode (its config.json says so). */
function resumesMemorySaving() {
  const at = process.argv.indexOf('--resume');
  if (at < 0 || !process.argv[at + 1]) return false;
  try {
    return JSON.parse(readFileSync(path.join(process.argv[at + 1], 'config.json'), 'utf8')).hp?.recomputeActivations === true;
  } catch {
    return false; // the tune itself reports a missing or broken run folder
  }
}
