/**
 * `attune models list`: the catalog plus every model already on this computer (the Hugging Face
 * cache, LM Studio, Ollama, and what the person added), from headers and manifests only.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AttuneError } from '../../shared/errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { catalogEntries, catalogMemory, type CatalogMemory } from './catalog.js';
import type { SourceModel } from '../../shared/hub.js';
import { checkSnapshot, hubCacheDir, listCachedRepos, resolveCachedSnapshot } from './hub-cache.js';
import { folderTunability, ggufTunability, isGgufFile, listLmStudioModels, listOllamaModels, readGgufHeader } from './local-stores.js';

export type ModelSource = SourceModel['source'];

/** One model in `attune models list` (the app shows the same data: src/shared/hub.ts). */
export type ModelListEntry = Omit<SourceModel, 'memory'> & { memory?: CatalogMemory };

export interface ListOptions {
  env?: NodeJS.ProcessEnv;
  machineBytes?: number;
}

/** The file that keeps the models a person added (`attune models add`, the app's "Add from disk"). */
export function addedModelsFile(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.ATTUNE_CONFIG_DIR ?? path.join(env.XDG_CONFIG_HOME ?? path.join(env.HOME ?? env.USERPROFILE ?? os.homedir(), '.config'), 'attune');
  return path.join(dir, 'added-models.json');
}

export function readAddedModels(env: NodeJS.ProcessEnv = process.env): string[] {
  const file = addedModelsFile(env);
  if (!existsSync(file)) return [];
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { paths?: unknown };
    return Array.isArray(v.paths) ? v.paths.filter((p): p is string => typeof p === 'string') : [];
  } catch {
    throw new AttuneError('models.added-invalid', { file }, { file });
  }
}

/** Remembers a model folder or file; returns its list entry (which says whether it can be tuned). */
export async function addModel(modelPath: string, env: NodeJS.ProcessEnv = process.env): Promise<ModelListEntry> {
  const abs = path.resolve(modelPath);
  if (!existsSync(abs)) throw new AttuneError('models.path-not-found', { path: modelPath }, { file: modelPath });
  const entry = describePath(abs, 'added');
  const paths = readAddedModels(env).filter((p) => p !== abs);
  paths.push(abs);
  const file = addedModelsFile(env);
  const { mkdir } = await import('node:fs/promises');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, async (write) => write(Buffer.from(JSON.stringify({ paths }, null, 2) + '\n')));
  return entry;
}

export async function removeAddedModel(modelPath: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const abs = path.resolve(modelPath);
  const paths = readAddedModels(env).filter((p) => p !== abs);
  const file = addedModelsFile(env);
  if (!existsSync(file)) return;
  await writeFileAtomic(file, async (write) => write(Buffer.from(JSON.stringify({ paths }, null, 2) + '\n')));
}

function describePath(abs: string, source: 'added'): ModelListEntry {
  let st;
  try {
    st = statSync(abs);
  } catch {
    return { name: path.basename(abs), source, path: abs, location: abs, format: 'huggingface', canTune: false, reason: 'it is no longer on this computer (moved or deleted)' };
  }
  if (st.isDirectory()) {
    const t = folderTunability(abs);
    return { name: path.basename(abs), source, path: abs, location: abs, format: 'huggingface', ...t };
  }
  if (isGgufFile(abs)) return { name: path.basename(abs), source, path: abs, location: abs, format: 'gguf', bytes: st.size, ...ggufTunability(readGgufHeader(abs)) };
  if (/\.(bin|pt|pth|ckpt|pkl)$/i.test(abs)) return { name: path.basename(abs), source, path: abs, location: abs, format: 'huggingface', canTune: false, reason: 'it is a PyTorch pickle checkpoint, which can run code when opened, so Attune refuses it' };
  return { name: path.basename(abs), source, path: abs, location: abs, format: 'gguf', canTune: false, reason: 'it is neither a model folder nor a GGUF file' };
}

const gb = (b: number) => `${(b / 1e9).toFixed(1)} GB`;

export function listModels(opts: ListOptions = {}): ModelListEntry[] {
  const env = opts.env ?? process.env;
  const cache = hubCacheDir(env);
  const out: ModelListEntry[] = [];
  const catalogRepos = new Set<string>();
  for (const c of catalogEntries()) {
    catalogRepos.add(c.repo);
    const memory = catalogMemory(c, opts.machineBytes);
    const snap = resolveCachedSnapshot(cache, c.repo);
    const check = snap ? checkSnapshot(snap.dir) : undefined;
    const tooBig = memory.fitWithBest === 'too-big';
    out.push({
      name: c.repo,
      source: 'catalog',
      path: c.repo,
      format: 'huggingface',
      canTune: !tooBig,
      reason: tooBig ? `it needs about ${gb(memory.tuningBytesByStorage[memory.bestStorage])} of memory to tune, more than this computer's ${gb(memory.machineBytes)} allow` : undefined,
      architecture: c.architecture,
      bytes: check?.complete ? check.bytes : c.downloadBytes,
      downloaded: !!check?.complete,
      location: check?.complete ? snap!.dir : undefined,
      licence: c.licence,
      gated: c.gated,
      parameters: c.parameters,
      description: c.description,
      memory,
    });
  }
  for (const r of listCachedRepos(cache)) {
    if (catalogRepos.has(r.repo)) continue;
    const t = r.check.complete ? folderTunability(r.dir) : { canTune: false, reason: `its download is not complete (${r.check.reason}); pull it again to finish it` };
    out.push({ name: r.repo, source: 'hub-cache', path: r.repo, location: r.dir, format: 'huggingface', bytes: r.check.bytes, ...t });
  }
  for (const m of [...listLmStudioModels(env), ...listOllamaModels(env)]) {
    out.push({ name: m.name, source: m.source, path: m.path, location: m.path, format: m.format, bytes: m.bytes, canTune: m.canTune, reason: m.reason, architecture: m.architecture });
  }
  for (const p of readAddedModels(env)) out.push(describePath(p, 'added'));
  return out;
}
