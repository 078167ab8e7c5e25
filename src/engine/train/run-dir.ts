/**
 * A run folder: everything a run did, enough to reproduce or resume it.
 *   config.json      the resolved TuneConfig (what `--resume` reads back)
 *   metrics.jsonl    one line per optimizer step (and per validation)
 *   checkpoint/      state.json + tensors.safetensors (LoRA, token rows, Adam moments)
 *   adapter/         the PEFT adapter (best validation step when validation ran)
 * Checkpoints are written to a temporary folder and swapped in by rename, so a crash at any
 * moment leaves either the old or the new checkpoint whole.
 */
import { appendFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AttuneError } from '../../shared/errors.js';
import { readSafetensors, tensorToFloat32, float32ToTensor, writeSafetensors } from '../weights/safetensors.js';
import { writeTextAtomic } from '../util/atomic.js';

export interface CheckpointState {
  /** Optimizer steps completed. */
  step: number;
  epoch: number;
  /** Index of the next micro-batch within the epoch's batch order. */
  batchInEpoch: number;
  tokensSeen: number;
  elapsedSeconds: number;
  bestValLoss: number | null;
  bestStep: number | null;
  evalsWithoutImprovement: number;
  lastLoss: number | null;
}

export interface Checkpoint {
  state: CheckpointState;
  tensors: Map<string, Float32Array>;
}

export const runPaths = (dir: string) => ({
  config: path.join(dir, 'config.json'),
  metrics: path.join(dir, 'metrics.jsonl'),
  checkpoint: path.join(dir, 'checkpoint'),
  adapter: path.join(dir, 'adapter'),
  bestTensors: path.join(dir, 'best', 'tensors.safetensors'),
});

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeTextAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

export async function appendMetrics(dir: string, record: Record<string, unknown>): Promise<void> {
  await appendFile(runPaths(dir).metrics, JSON.stringify(record) + '\n');
}

export async function saveTensors(file: string, tensors: Map<string, Float32Array>, shapes: Map<string, number[]>): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const out = new Map([...tensors].map(([name, data]) => [name, float32ToTensor(data, shapes.get(name)!, 'F32')]));
  await writeSafetensors(file, out);
}

export async function loadTensors(file: string): Promise<Map<string, Float32Array>> {
  const f = await readSafetensors(file);
  return new Map([...f.tensors].map(([name, t]) => [name, tensorToFloat32(t, name, file)]));
}

export async function saveCheckpoint(dir: string, ckpt: Checkpoint, shapes: Map<string, number[]>): Promise<void> {
  const final = runPaths(dir).checkpoint;
  const tmp = `${final}.tmp-${process.pid}`;
  const old = `${final}.old`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await saveTensors(path.join(tmp, 'tensors.safetensors'), ckpt.tensors, shapes);
  await writeFile(path.join(tmp, 'state.json'), JSON.stringify(ckpt.state, null, 2) + '\n');
  await rm(old, { recursive: true, force: true });
  if (await exists(final)) await rename(final, old);
  await rename(tmp, final);
  await rm(old, { recursive: true, force: true });
}

export async function loadCheckpoint(dir: string): Promise<Checkpoint | undefined> {
  const { checkpoint } = runPaths(dir);
  // A crash between the two renames leaves only checkpoint.old: it is whole, use it.
  for (const candidate of [checkpoint, `${checkpoint}.old`]) {
    if (!(await exists(path.join(candidate, 'state.json')))) continue;
    try {
      const state = JSON.parse(await readFile(path.join(candidate, 'state.json'), 'utf8')) as CheckpointState;
      const tensors = await loadTensors(path.join(candidate, 'tensors.safetensors'));
      return { state, tensors };
    } catch (e) {
      throw new AttuneError('tune.checkpoint-corrupt', { dir: candidate, detail: (e as Error).message }, { file: candidate });
    }
  }
  return undefined;
}

/** Drops metric lines past `step` (written after the checkpoint a resumed run restarts from). */
export async function truncateMetrics(dir: string, step: number): Promise<void> {
  const file = runPaths(dir).metrics;
  if (!(await exists(file))) return;
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim());
  const kept = lines.filter((l) => {
    try {
      return (JSON.parse(l) as { step: number }).step <= step;
    } catch {
      return false;
    }
  });
  await writeTextAtomic(file, kept.map((l) => l + '\n').join(''));
}

export async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}
