/** Runs workers in Electron utility processes (the app). A crash there never takes the window down. */
import { utilityProcess } from 'electron';
import type { JobRunner, WorkerHandle } from './runner.js';

export function electronRunner(workerPath: string, serviceName = 'Attune tuning'): JobRunner {
  return {
    spawn(env = {}): WorkerHandle {
      const child = utilityProcess.fork(workerPath, [], { serviceName, stdio: 'inherit', env: { ...process.env, ...env } });
      let exitListener: ((i: { code: number | null; signal?: string | null }) => void) | undefined;
      let exitInfo: { code: number | null; signal?: string | null } | undefined;
      let fatal: string | undefined;
      child.on('error', (type, location) => {
        fatal = `${type} at ${location}`;
      });
      child.once('exit', (code) => {
        exitInfo = { code, signal: fatal ?? null };
        exitListener?.(exitInfo);
      });
      return {
        get pid() {
          return child.pid;
        },
        post: (m) => child.postMessage(m),
        onMessage: (l) => child.on('message', l),
        onExit: (l) => {
          exitListener = l;
          if (exitInfo) l(exitInfo);
        },
        kill: () => {
          child.kill();
        },
      };
    },
  };
}
