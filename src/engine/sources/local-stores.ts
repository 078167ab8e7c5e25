/**
 * Models other tools already put on this computer, found from headers and manifests only (no
 * weights are read): LM Studio (`~/.lmstudio/models/<publisher>/<repo>/`, the `downloadsFolder`
 * of `~/.lmstudio/settings.json`, the older `~/.cache/lm-studio/models`) and Ollama
 * (`OLLAMA_MODELS`, else `~/.ollama/models`: `manifests/<host>/<namespace>/<name>/<tag>` JSON whose
 * layer of type `application/vnd.ollama.image.model` is `blobs/sha256-<hex>`, a GGUF file without
 * an extension). GGUF files are recognised by their magic bytes, not their extension.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ARCHITECTURES, findArchitecture } from '../models/architectures.js';

const home = (env: NodeJS.ProcessEnv) => env.HOME ?? env.USERPROFILE ?? os.homedir();

/** True when the file starts with "GGUF". */
export function isGgufFile(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === 'GGUF';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export interface GgufHeader {
  architecture?: string;
  name?: string;
  fileType?: number;
}

/** `general.*` keys from the first KiB of a GGUF file's metadata (never its tensors). */
export function readGgufHeader(file: string): GgufHeader {
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(256 * 1024);
  let n: number;
  try {
    n = readSync(fd, buf, 0, buf.length, 0);
  } finally {
    closeSync(fd);
  }
  const b = buf.subarray(0, n);
  const out: GgufHeader = {};
  let off = 4 + 4 + 8;
  const kvCount = Number(b.readBigUInt64LE(16));
  off += 8;
  const SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const str = () => {
    const len = Number(b.readBigUInt64LE(off));
    const s = b.toString('utf8', off + 8, off + 8 + len);
    off += 8 + len;
    return s;
  };
  try {
    for (let i = 0; i < kvCount && off < b.length - 16; i++) {
      const key = str();
      const type = b.readUInt32LE(off);
      off += 4;
      if (type === 8) {
        const v = str();
        if (key === 'general.architecture') out.architecture = v;
        if (key === 'general.name') out.name = v;
      } else if (type === 9) {
        const itemType = b.readUInt32LE(off);
        const count = Number(b.readBigUInt64LE(off + 4));
        off += 12;
        if (itemType === 8) for (let j = 0; j < count; j++) str();
        else off += count * (SIZES[itemType] ?? 0);
      } else {
        if (key === 'general.file_type' && (type === 4 || type === 5)) out.fileType = b.readUInt32LE(off);
        off += SIZES[type] ?? 0;
      }
      if (out.architecture && out.name !== undefined && out.fileType !== undefined) break;
    }
  } catch {
    /* metadata longer than what was read: keep what was found */
  }
  return out;
}

/** llama.cpp `general.file_type` values whose tensor types Attune reads (F32, F16, Q4_0, Q8_0, Q4_K_M, Q6_K, BF16). */
const READABLE_FILE_TYPES = new Map<number, string>([
  [0, 'F32'],
  [1, 'F16'],
  [2, 'Q4_0'],
  [7, 'Q8_0'],
  [15, 'Q4_K_M'],
  [18, 'Q6_K'],
  [32, 'BF16'],
]);
const FILE_TYPE_NAMES: Record<number, string> = { 3: 'Q4_1', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S', 12: 'Q3_K_M', 13: 'Q3_K_L', 14: 'Q4_K_S', 16: 'Q5_K_S', 17: 'Q5_K_M' };

const supported = () => ARCHITECTURES.map((a) => a.name).join(', ');

/** Whether Attune can tune a GGUF file, from its header; the reason when not. */
export function ggufTunability(h: GgufHeader): { canTune: boolean; reason?: string; architecture?: string } {
  if (!h.architecture) return { canTune: false, reason: 'its header does not say which architecture it is' };
  if (!ARCHITECTURES.some((a) => a.ggufName === h.architecture)) {
    return { canTune: false, architecture: h.architecture, reason: `its architecture "${h.architecture}" is not one Attune supports (${supported()})` };
  }
  if (h.fileType !== undefined && !READABLE_FILE_TYPES.has(h.fileType)) {
    return { canTune: false, architecture: h.architecture, reason: `it is stored as ${FILE_TYPE_NAMES[h.fileType] ?? `type ${h.fileType}`}, which Attune cannot read yet (F32, F16, BF16, Q8_0, Q4_0, Q4_K_M and Q6_K work)` };
  }
  return { canTune: true, architecture: h.architecture };
}

/** Whether Attune can tune a Hugging Face folder, from config.json and the file names. */
export function folderTunability(dir: string): { canTune: boolean; reason?: string; architecture?: string } {
  let cfg: { model_type?: string };
  try {
    cfg = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
  } catch {
    return { canTune: false, reason: 'its config.json is missing or not valid JSON' };
  }
  const arch = findArchitecture(cfg.model_type);
  if (!arch) return { canTune: false, architecture: cfg.model_type, reason: `its architecture "${cfg.model_type ?? 'unknown'}" is not one Attune supports (${supported()})` };
  const files = safeList(dir);
  if (!files.some((f) => f.endsWith('.safetensors'))) {
    return { canTune: false, architecture: arch.name, reason: files.some((f) => /\.(bin|pt|pth)$/.test(f)) ? 'it has only PyTorch pickle weights, which Attune refuses to open (they can run code)' : 'it has no .safetensors weights' };
  }
  if (!files.includes('tokenizer.json')) return { canTune: false, architecture: arch.name, reason: 'it has no tokenizer.json' };
  return { canTune: true, architecture: arch.name };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

export interface FoundModel {
  name: string;
  source: 'lmstudio' | 'ollama';
  path: string;
  format: 'gguf' | 'huggingface';
  bytes: number;
  canTune: boolean;
  reason?: string;
  architecture?: string;
}

/** LM Studio's model folders: the settings' downloadsFolder, ~/.lmstudio/models and the older ~/.cache/lm-studio/models. */
export function lmStudioDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const h = home(env);
  const dirs: string[] = [];
  for (const settings of [path.join(h, '.lmstudio', 'settings.json'), path.join(h, '.cache', 'lm-studio', 'settings.json')]) {
    try {
      const s = JSON.parse(readFileSync(settings, 'utf8')) as { downloadsFolder?: string };
      if (typeof s.downloadsFolder === 'string' && s.downloadsFolder) dirs.push(s.downloadsFolder.replace(/^~(?=$|[/\\])/, h));
    } catch {
      /* no settings */
    }
  }
  dirs.push(path.join(h, '.lmstudio', 'models'), path.join(h, '.cache', 'lm-studio', 'models'));
  return [...new Set(dirs.map((d) => path.resolve(d)))].filter(isDir);
}

/** Every model in LM Studio's folders: `<publisher>/<repo>/*.gguf` (by magic) and Hugging Face folders. */
export function listLmStudioModels(env: NodeJS.ProcessEnv = process.env): FoundModel[] {
  const out: FoundModel[] = [];
  for (const root of lmStudioDirs(env)) {
    for (const publisher of safeList(root).sort()) {
      const pdir = path.join(root, publisher);
      if (!isDir(pdir)) continue;
      for (const repo of safeList(pdir).sort()) {
        const rdir = path.join(pdir, repo);
        if (!isDir(rdir)) continue;
        const files = safeList(rdir).sort();
        if (files.includes('config.json')) {
          const t = folderTunability(rdir);
          out.push({ name: `${publisher}/${repo}`, source: 'lmstudio', path: rdir, format: 'huggingface', bytes: sizeOfFiles(rdir, files), ...t });
          continue;
        }
        for (const f of files) {
          const file = path.join(rdir, f);
          if (!isGgufFile(file)) continue;
          // mmproj files are vision encoders, not language models.
          const h = readGgufHeader(file);
          const t = /^mmproj/i.test(f) || h.architecture === 'clip' ? { canTune: false, reason: 'it is an image encoder (mmproj), not a language model', architecture: h.architecture } : ggufTunability(h);
          out.push({ name: `${publisher}/${repo}/${f}`, source: 'lmstudio', path: file, format: 'gguf', bytes: statSync(file).size, ...t });
        }
      }
    }
  }
  return out;
}

function sizeOfFiles(dir: string, files: string[]): number {
  let s = 0;
  for (const f of files) {
    try {
      const st = statSync(path.join(dir, f));
      if (st.isFile()) s += st.size;
    } catch {
      /* skip */
    }
  }
  return s;
}

export function ollamaDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.OLLAMA_MODELS || path.join(home(env), '.ollama', 'models');
}

interface OllamaManifest {
  layers?: { mediaType?: string; digest?: string; size?: number }[];
}

/** `name:tag` (library models), `user/name:tag`, or `host/ns/name:tag` for a manifest path. */
function ollamaName(host: string, ns: string, name: string, tag: string): string {
  if (host === 'registry.ollama.ai') return ns === 'library' ? `${name}:${tag}` : `${ns}/${name}:${tag}`;
  return `${host}/${ns}/${name}:${tag}`;
}

/** Every Ollama model whose weights are a GGUF blob on disk. */
export function listOllamaModels(env: NodeJS.ProcessEnv = process.env): FoundModel[] {
  const root = ollamaDir(env);
  const manifests = path.join(root, 'manifests');
  const out: FoundModel[] = [];
  for (const host of safeList(manifests).sort()) {
    for (const ns of safeList(path.join(manifests, host)).sort()) {
      for (const name of safeList(path.join(manifests, host, ns)).sort()) {
        for (const tag of safeList(path.join(manifests, host, ns, name)).sort()) {
          const found = ollamaEntry(root, path.join(manifests, host, ns, name, tag), ollamaName(host, ns, name, tag));
          if (found) out.push(found);
        }
      }
    }
  }
  return out;
}

function ollamaEntry(root: string, manifestFile: string, name: string): FoundModel | undefined {
  let m: OllamaManifest;
  try {
    m = JSON.parse(readFileSync(manifestFile, 'utf8'));
  } catch {
    return undefined;
  }
  const layer = m.layers?.find((l) => l.mediaType === 'application/vnd.ollama.image.model');
  if (!layer?.digest || !/^sha256:[0-9a-f]{64}$/.test(layer.digest)) return undefined;
  const blob = path.join(root, 'blobs', layer.digest.replace(':', '-'));
  if (!existsSync(blob)) return { name, source: 'ollama', path: blob, format: 'gguf', bytes: layer.size ?? 0, canTune: false, reason: 'its weights file is missing from Ollama\'s blobs folder' };
  if (!isGgufFile(blob)) return { name, source: 'ollama', path: blob, format: 'gguf', bytes: statSync(blob).size, canTune: false, reason: 'its weights are not a GGUF file' };
  return { name, source: 'ollama', path: blob, format: 'gguf', bytes: statSync(blob).size, ...ggufTunability(readGgufHeader(blob)) };
}

/** The GGUF blob of an Ollama model named `name:tag` (or `user/name:tag`), if it is on disk. */
export function findOllamaModel(ref: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const m = listOllamaModels(env).find((x) => x.name === ref || x.name === `${ref.replace(/:latest$/, '')}:latest`);
  return m && existsSync(m.path) ? m.path : undefined;
}
