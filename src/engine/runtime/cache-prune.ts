/**
 * Keeps the graph cache from filling the disk. Every training configuration writes the frozen
 * base again (540 MB for a 135M model in F32, gigabytes for 1.5B and up), chat adds ORT's
 * optimised copy, and a new release of the graph format orphans every older entry: a person who
 * tries many settings would otherwise lose disk space without ever being told.
 *
 * An entry is a folder under `graphs/` or `optimized/`; using it touches the folder, so its
 * modification time says when it was last used. After a new entry is written, the least recently
 * used entries go until the whole is under the budget; an entry used within the last hour stays
 * (another process may be about to open it), and one that cannot be removed (Windows refuses to
 * delete a file a live session has open) is skipped. Builds in progress (`*.tmp-<pid>-*`) stay
 * while their process lives; those left by a process that died are removed.
 */
import { readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { atomicDirOwner } from '../util/atomic.js';

/** Entry folders: built graphs and ORT's optimised copies of them. */
const ENTRY_FOLDERS = ['graphs', 'optimized'];
const DEFAULT_BUDGET_GB = 8;
const RECENTLY_USED_MS = 60 * 60 * 1000;
/** A build folder whose process is gone is left alone this long (its owner may be another user's). */
const ABANDONED_BUILD_MS = 10 * 60 * 1000;

/** Bytes the graph cache may hold: `ATTUNE_CACHE_MAX_GB`, else 8 GB. */
export function cacheBudgetBytes(): number {
  const gb = Number(process.env.ATTUNE_CACHE_MAX_GB);
  return (Number.isFinite(gb) && gb > 0 ? gb : DEFAULT_BUDGET_GB) * 2 ** 30;
}

/** Records that a cache entry was used now (its folder's modification time). */
export function markUsed(entryDir: string): void {
  const now = new Date();
  try {
    utimesSync(entryDir, now, now);
  } catch {
    // A read-only cache only loses its order of use.
  }
}

interface Entry {
  dir: string;
  bytes: number;
  lastUsed: number;
}

/**
 * Removes least recently used entries until the cache is within `budget` bytes, never `keep` (the
 * entry just written) nor one used within the last hour. Returns the folders removed.
 */
export function pruneCache(root: string, keep: string, budget = cacheBudgetBytes(), now = Date.now()): string[] {
  const entries: Entry[] = [];
  const removed: string[] = [];
  for (const folder of ENTRY_FOLDERS) {
    for (const name of listDir(path.join(root, folder))) {
      const dir = path.join(root, folder, name);
      const builder = atomicDirOwner(name);
      if (builder !== undefined) {
        if (!processAlive(builder) && now - mtime(dir) > ABANDONED_BUILD_MS && remove(dir)) removed.push(dir);
        continue;
      }
      entries.push({ dir, bytes: folderBytes(dir), lastUsed: mtime(dir) });
    }
  }
  let total = entries.reduce((sum, e) => sum + e.bytes, 0);
  const keepDir = path.resolve(keep);
  for (const e of entries.sort((a, b) => a.lastUsed - b.lastUsed)) {
    if (total <= budget) break;
    if (path.resolve(e.dir) === keepDir || now - e.lastUsed < RECENTLY_USED_MS) continue;
    if (remove(e.dir)) {
      total -= e.bytes;
      removed.push(e.dir);
    }
  }
  return removed;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function mtime(p: string): number {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

/** The size of an entry's files. */
function folderBytes(dir: string): number {
  let bytes = 0;
  for (const name of listDir(dir)) {
    try {
      const s = statSync(path.join(dir, name));
      bytes += s.isDirectory() ? folderBytes(path.join(dir, name)) : s.size;
    } catch {
      // Removed meanwhile.
    }
  }
  return bytes;
}

/**
 * Removes an entry, its weight data first: where that file is held open (Windows, a live session)
 * nothing is removed, so the entry stays whole.
 */
function remove(dir: string): boolean {
  const files = listDir(dir).sort((a, b) => Number(b.endsWith('.data')) - Number(a.endsWith('.data')));
  try {
    if (files[0]) rmSync(path.join(dir, files[0]), { recursive: true, force: true });
  } catch {
    return false;
  }
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // Its data is gone; a later prune finishes it, and a later use rebuilds it.
  }
  return true;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
