/**
 * What the app's Model step shows about model sources: recommended models, models other tools put
 * on this computer, and downloads in progress. The engine's ModelListEntry and PullProgress are
 * these types (the engine imports shared code, never the reverse).
 */
export interface SourceModel {
  name: string;
  source: 'catalog' | 'hub-cache' | 'lmstudio' | 'ollama' | 'added';
  /** What `--model` accepts: a repo id, a folder or a GGUF file. */
  path: string;
  format: 'huggingface' | 'gguf';
  canTune: boolean;
  /** Why not, in words, when canTune is false. */
  reason?: string;
  architecture?: string;
  /** Size on disk (downloaded models) or of the download (catalog). */
  bytes?: number;
  /** Catalog entries: whether a complete copy is in the Hugging Face cache. */
  downloaded?: boolean;
  /** Where the files are, for models on disk. */
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
  /** Bytes on disk so far (reused and resumed bytes included). */
  doneBytes: number;
  totalBytes: number;
  /** Over the last few seconds; 0 before any byte arrived. */
  bytesPerSecond: number;
  secondsLeft?: number;
}

export type HubPullEvent =
  | { pullId: string; repo: string; state: 'progress'; progress: PullProgressInfo }
  | { pullId: string; repo: string; state: 'done'; dir: string }
  | { pullId: string; repo: string; state: 'cancelled' | 'error'; code: string; message: string };
