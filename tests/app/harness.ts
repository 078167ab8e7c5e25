/**
 * Builds the app's handlers the way src/main/index.ts does, minus Electron: a temporary
 * workspace, in-memory settings, the real engine facade, training in a Node child process, and
 * file dialogs that answer from a queue (standing in for the person choosing a file).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { EventName, Payload } from '../../src/shared/contract.js';
import { createEngineFacade } from '../../src/main/engine-facade.js';
import type { EngineFacade } from '../../src/main/engine.js';
import { createHandlers, type Dialogs } from '../../src/main/handlers.js';
import { JobManager } from '../../src/main/jobs/manager.js';
import { nodeRunner } from '../../src/main/jobs/node-runner.js';
import { memorySettings } from '../../src/main/settings.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const TINY_MODEL = path.resolve(ROOT, '../shared/models/stories260K-hf');
export const TUNE_WORKER = path.join(ROOT, 'src/main/jobs/tune-worker.ts');

export interface TestApp {
  handlers: ReturnType<typeof createHandlers>;
  workspace: string;
  /** Answers for the next file/folder dialogs (null = the person cancels). */
  dialogAnswers: (string | null)[];
  revealed: string[];
  events: { name: EventName; payload: unknown }[];
  listeners: Set<(name: EventName, payload: unknown) => void>;
  close(): Promise<void>;
}

/** `firstRun`: start as a fresh installation (the first run shows); otherwise it counts as done. */
export async function createTestApp(
  opts: { engine?: EngineFacade; workerPath?: string; resourcesDir?: string; workspace?: string; firstRun?: boolean; documentsDir?: string } = {},
): Promise<TestApp> {
  const workspace = opts.workspace ?? (await mkdtemp(path.join(os.tmpdir(), 'attune-ws-')));
  const dialogAnswers: (string | null)[] = [];
  const revealed: string[] = [];
  const events: TestApp['events'] = [];
  const listeners: TestApp['listeners'] = new Set();
  const dialogs: Dialogs = {
    openFile: async () => dialogAnswers.shift() ?? null,
    openFolder: async () => dialogAnswers.shift() ?? null,
    reveal: async (p) => void revealed.push(p),
  };
  const handlers = createHandlers({
    engine: opts.engine ?? createEngineFacade(),
    settings: memorySettings({ workspace, firstRunDone: opts.firstRun ? undefined : true }),
    jobs: new JobManager(nodeRunner({ workerPath: opts.workerPath ?? TUNE_WORKER }), 10_000),
    estimateRunner: nodeRunner({ workerPath: path.join(ROOT, 'src/main/jobs/estimate-worker.ts') }),
    dialogs,
    emit: <K extends EventName>(name: K, payload: Payload<K>) => {
      events.push({ name, payload });
      for (const l of listeners) l(name, payload);
    },
    resourcesDir: opts.resourcesDir ?? path.join(ROOT, 'resources'),
    version: '0.0.0-test',
    platform: process.platform,
    machine: () => ({ totalMemoryBytes: os.totalmem(), freeMemoryBytes: os.freemem(), cpus: os.cpus().length }),
    documentsDir: opts.documentsDir,
  });
  return {
    handlers,
    workspace,
    dialogAnswers,
    revealed,
    events,
    listeners,
    async close() {
      await handlers.dispose();
      if (!opts.workspace) await rm(workspace, { recursive: true, force: true });
    },
  };
}
