/**
 * Turns the name a person gives for a model into a path on this computer, with no network:
 * an existing path stays as it is; `org/name` (or `org/name@revision`) is the Hugging Face cache's
 * snapshot; `name:tag` is an Ollama model's GGUF layer.
 */
import { existsSync } from 'node:fs';
import { AttuneError } from '../../shared/errors.js';
import { checkSnapshot, hubCacheDir, parseRepoRef, resolveCachedSnapshot } from './hub-cache.js';
import { findOllamaModel } from './local-stores.js';

export function resolveModelName(name: string, env: NodeJS.ProcessEnv = process.env): string {
  if (existsSync(name)) return name;
  const ref = parseRepoRef(name);
  if (ref) {
    const snap = resolveCachedSnapshot(hubCacheDir(env), ref.repo, ref.revision);
    if (!snap) {
      throw new AttuneError(
        'hub.not-downloaded',
        { name, folder: hubCacheDir(env), pullArgs: ref.revision ? `${ref.repo} --revision ${ref.revision}` : ref.repo },
        { file: name },
      );
    }
    const check = checkSnapshot(snap.dir);
    if (!check.complete) {
      throw new AttuneError('hub.incomplete', { repo: ref.repo, reason: check.reason }, { file: snap.dir });
    }
    return snap.dir;
  }
  const ollama = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9._-]+)?:[A-Za-z0-9._-]+$/.test(name) ? findOllamaModel(name, env) : undefined;
  if (ollama) return ollama;
  return name;
}
