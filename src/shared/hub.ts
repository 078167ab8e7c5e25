/**
 * What the app's Model step shows about model sources: recommended models, models other tools put
 * on this computer, and downloads in progress. Mirrors the engine's ModelListEntry and PullProgress
 * (shared code cannot import the engine).
 */
export interface SourceModel {
  name: string;
  source: 'catalog' | 'hub-cache' | 'lmstudio' | 'ollama' | 'added';
  path: string;
  format: 'huggingface' | 'gguf';
  canTune: boolean;
  reason?: string;
  architecture?: string;
  bytes?: number;
  downloaded?: boolean;
  location?: string;
  licence?: string;
  gated?: boolean;
  parameters?: number;
  description?: string;
  memory?: { tuningBytes: number; machineBytes: number; fit: 'fits' | 'tight' | 'too-big'; bestStorage: string; fitWithBest: 'fits' | 'tight' | 'too-big' };
}

export interface PullProgressInfo {
  phase: 'listing' | 'downloading' | 'verifying' | 'done';
  repo: string;
  file?: string;
  filesDone: number;
  filesTotal: number;
  doneBytes: number;
  totalBytes: number;
  bytesPerSecond: number;
  secondsLeft?: number;
}

export type HubPullEvent =
  | { pullId: string; repo: string; state: 'progress'; progress: PullProgressInfo }
  | { pullId: string; repo: string; state: 'done'; dir: string }
  | { pullId: string; repo: string; state: 'cancelled' | 'error'; code: string; message: string };
