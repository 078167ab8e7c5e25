// Paths to the real tiny model shared by the weights tests (read-only, never copied).
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../../..');
export const MODELS = resolve(repoRoot, '../shared/models');
export const HF_DIR = join(MODELS, 'stories260K-hf');
export const GGUF_FILE = join(MODELS, 'stories260K', 'stories260K.gguf');

export const tempDir = (): Promise<string> => mkdtemp(join(tmpdir(), 'attune-weights-'));

/** Deterministic pseudo-random floats (mulberry32), so a failure can be replayed from its seed. */
export function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}
