/** Runs workers with Node's child_process.fork (tests, the end-to-end transport, the CLI). */
import { fork } from 'node:child_process';
import type { JobRunner, WorkerHandle } from './runner.js';

export interface NodeRunnerOptions {
  /** The worker module; a .ts file is run through tsx. */
  workerPath: string;
  env?: NodeJS.ProcessEnv;
}

export function nodeRunner(opts: NodeRunnerOptions): JobRunner {
  return {
    spawn(env = {}): WorkerHandle {
      const execArgv = opts.workerPath.endsWith('.ts') ? ['--import', 'tsx'] : [];
      const child = fork(opts.workerPath, [], {
        execArgv,
        env: { ...process.env, ...env, ...opts.env },
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      let exitListener: ((i: { code: number | null; signal?: string | null }) => void) | undefined;
      let exitInfo: { code: number | null; signal?: string | null } | undefined;
      // 'close', not 'exit': it comes after the IPC channel is drained, so a worker's last
      // messages (its checkpoint, say) are never overtaken by the news that it exited.
      child.once('close', (code, signal) => {
        exitInfo = { code, signal };
        exitListener?.(exitInfo);
      });
      child.on('error', () => {
        /* reported through 'exit' */
      });
      return {
        pid: child.pid,
        post: (m) => {
          if (child.connected) child.send(m);
        },
        onMessage: (l) => child.on('message', l),
        onExit: (l) => {
          exitListener = l;
          if (exitInfo) l(exitInfo);
        },
        kill: () => {
          child.kill('SIGKILL');
        },
      };
    },
  };
}
