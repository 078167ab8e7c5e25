/** The local OpenAI-compatible server (127.0.0.1 only): at most one, started only on a person's request. */
import type { ServerInfo } from '../../shared/contract.js';
import type { Emit } from './events.js';

type Running = ServerInfo & { close(): Promise<void> };

export class LocalServer {
  private running: Running | undefined;
  constructor(private readonly emit: Emit) {}

  info(): ServerInfo | null {
    const s = this.running;
    return s ? { project: s.project, runId: s.runId, url: s.url, port: s.port, modelId: s.modelId } : null;
  }

  /** Stops the one running (if any), then starts `open()`'s server in its place. */
  async start(project: string, runId: string, open: () => Promise<Omit<Running, 'project' | 'runId'>>): Promise<ServerInfo> {
    await this.stop();
    this.running = { ...(await open()), project, runId };
    const info = this.info()!;
    this.emit('serve.state', info);
    return info;
  }

  async stop(): Promise<boolean> {
    const s = this.running;
    if (!s) return false;
    this.running = undefined;
    await s.close();
    this.emit('serve.state', null);
    return true;
  }
}

/** A model id for the API from a project and run: letters, digits and . _ / - only. */
export const serverModelId = (project: string, runId: string) => `${project}/${runId}`.replace(/[^A-Za-z0-9._/-]+/g, '-');
