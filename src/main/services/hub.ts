/**
 * The Model step's sources: the catalog and the models other tools put on this computer (engine
 * listModels), and Hub downloads started by the person, with progress events and Cancel. A
 * cancelled or failed download keeps its partial file; pulling again resumes it.
 */
import { randomBytes } from 'node:crypto';
import { isAttuneError, listModels, pullModel } from '../../engine/index.js';
import type { HubPullEvent, SourceModel } from '../../shared/hub.js';

export interface HubServiceOptions {
  emit: (e: HubPullEvent) => void;
  /** The token for gated models (the app's kept token, else HF_TOKEN). */
  token?: () => Promise<string | undefined>;
  /** The endpoint setting (else HF_ENDPOINT, else the Hub). */
  endpoint?: () => string | undefined;
}

export function createHubService(opts: HubServiceOptions) {
  const pulls = new Map<string, { repo: string; controller: AbortController; done: Promise<void> }>();

  return {
    list(): SourceModel[] {
      return listModels();
    },

    /** Models already on this computer that Attune can open, as folders or files. */
    usableOnDisk(): { path: string; kind: 'folder' | 'gguf' }[] {
      return listModels()
        .filter((m) => m.canTune && m.location && (m.source !== 'catalog' || m.downloaded))
        .map((m) => ({ path: m.location!, kind: m.format === 'gguf' ? ('gguf' as const) : ('folder' as const) }));
    },

    pull(repo: string, revision?: string): { pullId: string } {
      for (const [pullId, p] of pulls) if (p.repo === repo) return { pullId };
      const pullId = `pull-${randomBytes(6).toString('hex')}`;
      const controller = new AbortController();
      const done = (async () => {
        try {
          const token = await opts.token?.();
          const r = await pullModel({
            repo,
            revision,
            token,
            endpoint: opts.endpoint?.(),
            signal: controller.signal,
            onProgress: (progress) => opts.emit({ pullId, repo, state: 'progress', progress }),
          });
          opts.emit({ pullId, repo, state: 'done', dir: r.dir });
        } catch (e) {
          const code = isAttuneError(e) ? e.code : 'internal';
          const message = isAttuneError(e) ? e.message : `Something went wrong inside Attune: ${(e as Error).message}`;
          opts.emit({ pullId, repo, state: code === 'hub.cancelled' ? 'cancelled' : 'error', code, message });
        } finally {
          pulls.delete(pullId);
        }
      })();
      pulls.set(pullId, { repo, controller, done });
      return { pullId };
    },

    async cancel(pullId: string): Promise<{ cancelled: boolean }> {
      const p = pulls.get(pullId);
      if (!p) return { cancelled: false };
      p.controller.abort();
      await p.done;
      return { cancelled: true };
    },

    async dispose(): Promise<void> {
      for (const p of pulls.values()) p.controller.abort();
      await Promise.all([...pulls.values()].map((p) => p.done));
    },
  };
}
