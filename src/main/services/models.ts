/**
 * The models the app knows: those in the workspace's models folder and those a person added,
 * described once per file version (the engine's inspection is cached by mtime), with the
 * memory-fit verdict for this machine.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ModelInfo } from '../../shared/contract.js';
import { AttuneError } from '../../shared/errors.js';
import type { EngineFacade } from '../engine.js';
import { exists } from '../workspace.js';

export type KnownModel = Pick<ModelInfo, 'path' | 'kind' | 'origin'>;
type Facts = Omit<ModelInfo, 'origin' | 'fit'>;

const GB = 1024 ** 3;

/** Whether tuning fits this machine: comfortably under half its memory, tight up to 85%, else too big. */
export function fitFor(tuningBytes: number | undefined, totalMemoryBytes: number): ModelInfo['fit'] {
  if (!tuningBytes) return undefined;
  const need = (tuningBytes / GB).toFixed(1);
  const have = (totalMemoryBytes / GB).toFixed(1);
  if (tuningBytes < totalMemoryBytes * 0.5) return { verdict: 'fits', explanation: `Tuning needs about ${need} GB of memory; this computer has ${have} GB.` };
  if (tuningBytes < totalMemoryBytes * 0.85) {
    return { verdict: 'tight', explanation: `Tuning needs about ${need} GB of ${have} GB. Close other programs, or lower “max length” and “batch”.` };
  }
  return { verdict: 'too-big', explanation: `Tuning needs about ${need} GB, more than this computer's ${have} GB. Choose a smaller model.` };
}

export interface ModelCatalogDeps {
  engine: Pick<EngineFacade, 'inspectModel'>;
  /** The workspace's models folder. */
  modelsDir: () => string;
  /** Models added from outside the workspace. */
  added: () => { path: string; kind: 'folder' | 'gguf' }[];
  /** Models other tools (and Attune's own downloads) keep on this computer. */
  onDisk?: () => { path: string; kind: 'folder' | 'gguf' }[];
  totalMemoryBytes: () => number;
}

export class ModelCatalog {
  private readonly cache = new Map<string, { mtimeMs: number; info: Facts }>();
  constructor(private readonly deps: ModelCatalogDeps) {}

  /** The workspace's models (folders with config.json, GGUF files; links followed), then the added ones. */
  async known(): Promise<KnownModel[]> {
    const out: KnownModel[] = [];
    const dir = this.deps.modelsDir();
    try {
      for (const name of await readdir(dir)) {
        const p = path.join(dir, name);
        const s = await stat(p).catch(() => undefined); // follows links: a model may be linked into the workspace
        if (s?.isDirectory() && (await exists(path.join(p, 'config.json')))) out.push({ path: p, kind: 'folder', origin: 'workspace' });
        else if (s?.isFile() && name.toLowerCase().endsWith('.gguf')) out.push({ path: p, kind: 'gguf', origin: 'workspace' });
      }
    } catch {
      /* no models folder yet */
    }
    for (const m of this.deps.added()) if (!out.some((o) => o.path === m.path)) out.push({ path: m.path, kind: m.kind, origin: 'added' });
    for (const m of this.deps.onDisk?.() ?? []) if (!out.some((o) => o.path === m.path)) out.push({ path: m.path, kind: m.kind, origin: 'added' });
    return out;
  }

  async list(): Promise<ModelInfo[]> {
    return Promise.all((await this.known()).map((m) => this.describe(m)));
  }

  /** A model the app knows, or a plain error: the page may only name models it was shown. */
  async require(p: string): Promise<KnownModel> {
    const m = (await this.known()).find((k) => k.path === p);
    if (!m) throw new AttuneError('model.not-in-workspace');
    return m;
  }

  /** A known model that can be read. */
  async usable(p: string): Promise<ModelInfo> {
    const model = await this.describe(await this.require(p));
    if (model.problem) throw AttuneError.rendered('model.unreadable', model.problem);
    return model;
  }

  async describe(m: KnownModel): Promise<ModelInfo> {
    const name = path.basename(m.path).replace(/\.gguf$/i, '');
    const total = this.deps.totalMemoryBytes();
    let mtimeMs = 0;
    let fileBytes: number | undefined;
    try {
      const s = await stat(m.path);
      mtimeMs = s.mtimeMs;
      fileBytes = s.isFile() ? s.size : await folderBytes(m.path);
    } catch {
      return { ...m, name, problem: 'The model is no longer at this location.' };
    }
    const cached = this.cache.get(m.path);
    if (cached && cached.mtimeMs === mtimeMs) return { ...cached.info, origin: m.origin, fit: fitFor(cached.info.memory?.tuningBytes, total) };
    try {
      const facts = await this.deps.engine.inspectModel(m.path);
      const info = { ...facts, path: m.path, kind: m.kind, name, fileBytes };
      this.cache.set(m.path, { mtimeMs, info });
      return { ...info, origin: m.origin, fit: fitFor(facts.memory?.tuningBytes, total) };
    } catch (err) {
      return { ...m, name, fileBytes, problem: err instanceof Error ? err.message : String(err) };
    }
  }
}

/** A chosen folder must hold a model's config.json. */
export async function checkModelFolder(p: string): Promise<void> {
  if (!(await exists(path.join(p, 'config.json')))) {
    throw new AttuneError('model.folder-invalid');
  }
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const d of await readdir(dir, { withFileTypes: true })) if (d.isFile()) total += (await stat(path.join(dir, d.name))).size;
  return total;
}
