/**
 * The Hugging Face cache, read and written in its own layout so that models another tool
 * downloaded are reused and ours are reused by them (huggingface_hub's file_download.py):
 *
 *   <cache>/models--{org}--{name}/blobs/<etag>            the file's bytes (sha256 for LFS files,
 *                                                          the git blob sha1 for small ones)
 *   <cache>/models--{org}--{name}/blobs/<etag>.incomplete  a download in progress (resumable)
 *   <cache>/models--{org}--{name}/snapshots/<commit>/<path>  a relative symlink to ../../blobs/<etag>
 *                                                          (a copy where links are not allowed)
 *   <cache>/models--{org}--{name}/refs/<revision>          the commit hash the revision pointed to
 *
 * Nothing here opens a network connection.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** `HF_HUB_CACHE`, else `HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  if (env.HF_HOME) return path.join(env.HF_HOME, 'hub');
  const base = env.XDG_CACHE_HOME ?? path.join(env.HOME ?? env.USERPROFILE ?? os.homedir(), '.cache');
  return path.join(base, 'huggingface', 'hub');
}

const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** `org/name` or `org/name@revision`: what a person types to name a Hub model. */
export function parseRepoRef(ref: string): { repo: string; revision?: string } | undefined {
  const at = ref.indexOf('@');
  const repo = at >= 0 ? ref.slice(0, at) : ref;
  const revision = at >= 0 ? ref.slice(at + 1) : undefined;
  if (!REPO_ID.test(repo) || repo.includes('..')) return undefined;
  if (revision !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(revision)) return undefined;
  return { repo, revision };
}

export function repoFolderName(repo: string): string {
  return ['models', ...repo.split('/')].join('--');
}

export function repoCacheDir(cacheDir: string, repo: string): string {
  return path.join(cacheDir, repoFolderName(repo));
}

const COMMIT = /^[0-9a-f]{40}$/;

/** The commit a revision points to in the cache, or undefined when the cache has never seen it. */
export function cachedCommit(repoDir: string, revision = 'main'): string | undefined {
  if (COMMIT.test(revision) && existsSync(path.join(repoDir, 'snapshots', revision))) return revision;
  const ref = path.join(repoDir, 'refs', revision);
  if (existsSync(ref)) {
    const commit = readFileSync(ref, 'utf8').trim();
    if (COMMIT.test(commit)) return commit;
  }
  return undefined;
}

export interface SnapshotCheck {
  complete: boolean;
  /** What is missing, in words, when not complete. */
  reason?: string;
  /** Sum of the sizes of the files (through links). */
  bytes: number;
}

/**
 * Whether a snapshot folder holds a whole model Attune can open: config.json, tokenizer.json and
 * every safetensors file its index names (or one model.safetensors), each a file that exists
 * (a link into blobs/ that resolves). A download in progress is never counted as usable.
 */
export function checkSnapshot(dir: string): SnapshotCheck {
  let bytes = 0;
  const sizeOf = (name: string): number | undefined => {
    try {
      const s = statSync(path.join(dir, name));
      return s.isFile() ? s.size : undefined;
    } catch {
      return undefined;
    }
  };
  for (const name of ['config.json', 'tokenizer.json']) {
    const s = sizeOf(name);
    if (s === undefined) return { complete: false, reason: `${name} has not been downloaded`, bytes };
    bytes += s;
  }
  let shards: string[];
  const index = path.join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    try {
      const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
      shards = [...new Set(Object.values(map))];
    } catch {
      return { complete: false, reason: 'model.safetensors.index.json is not valid JSON', bytes };
    }
  } else {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      /* unreadable: no shards */
    }
    shards = entries.includes('model.safetensors') ? ['model.safetensors'] : entries.filter((e) => e.endsWith('.safetensors'));
  }
  if (shards.length === 0) return { complete: false, reason: 'no .safetensors weights have been downloaded', bytes };
  for (const shard of shards) {
    const s = sizeOf(shard);
    if (s === undefined) return { complete: false, reason: `${shard} has not been downloaded`, bytes };
    bytes += s;
  }
  return { complete: true, bytes };
}

/** The snapshot folder a cached repo id resolves to, with no network; undefined if not cached. */
export function resolveCachedSnapshot(cacheDir: string, repo: string, revision?: string): { dir: string; commit: string } | undefined {
  const repoDir = repoCacheDir(cacheDir, repo);
  if (!existsSync(repoDir)) return undefined;
  const commit = cachedCommit(repoDir, revision ?? 'main');
  if (commit) return { dir: path.join(repoDir, 'snapshots', commit), commit };
  if (revision !== undefined) return undefined;
  // No refs/main (a tool that pulled a commit hash): the newest complete snapshot.
  const snaps = path.join(repoDir, 'snapshots');
  if (!existsSync(snaps)) return undefined;
  const candidates = readdirSync(snaps)
    .filter((c) => COMMIT.test(c))
    .map((c) => ({ c, t: statSync(path.join(snaps, c)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { c } of candidates) if (checkSnapshot(path.join(snaps, c)).complete) return { dir: path.join(snaps, c), commit: c };
  return undefined;
}

export interface CachedRepo {
  repo: string;
  revision: string;
  commit: string;
  dir: string;
  check: SnapshotCheck;
}

/** Every model repo in the cache with the snapshot its `main` (or newest) revision points to. */
export function listCachedRepos(cacheDir: string): CachedRepo[] {
  if (!existsSync(cacheDir)) return [];
  const out: CachedRepo[] = [];
  for (const folder of readdirSync(cacheDir).sort()) {
    if (!folder.startsWith('models--')) continue;
    const parts = folder.slice('models--'.length).split('--');
    if (parts.length !== 2) continue;
    const repo = parts.join('/');
    const snap = resolveCachedSnapshot(cacheDir, repo);
    if (!snap) continue;
    out.push({ repo, revision: 'main', commit: snap.commit, dir: snap.dir, check: checkSnapshot(snap.dir) });
  }
  return out;
}
