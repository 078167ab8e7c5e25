#!/usr/bin/env node
// The CLI runs the TypeScript sources directly through tsx, so `npx attune` works after `npm ci`
// with no build step.
import { spawn } from 'node:child_process';
import { register } from 'tsx/esm/api';

register();
const { TUNING_PROCESS_ENV } = await import('../src/shared/tuning-env.ts');

// Tuning needs allocator settings that only apply from process start (see tuning-env.ts): run
// once more with them. Ctrl-C reaches both processes (one process group), so SIGINT is not
// passed on (a second one would stop the tune before its checkpoint); this one waits for the exit.
const tunes = ['tune', 'demo'].includes(process.argv[2]);
const missing = Object.keys(TUNING_PROCESS_ENV).filter((k) => process.env[k] === undefined);
if (process.platform === 'linux' && tunes && missing.length) {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, ...TUNING_PROCESS_ENV } });
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
