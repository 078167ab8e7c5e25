/**
 * Tuning on a GGUF base whose matrices are Q4_K (the bulk of the common Q4_K_M files): at the
 * default storage the step graph multiplies the file's blocks (MatMulNBits); the memory-saving
 * mode keeps the expanding path (trainer.ts's policy). Both runs see the same model, so their
 * losses step by step agree closely (the blocks' products round the activations to 8 bits).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTuning } from '../../../src/engine/train/tune.js';
import { writeGgufModel, type FloatTensor } from '../../../src/engine/weights/gguf-model.js';
import { readSafetensors, tensorToFloat32 } from '../../../src/engine/weights/safetensors.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';
import { TRAIN_NAMES, writeInstructionJsonl } from '../../helpers/instruction-data.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-gguf-tune-'));
const gguf = path.join(tmp, 'model-Q4_K.gguf');
const dataFile = path.join(tmp, 'data.jsonl');
beforeAll(async () => {
  process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
  const dir = path.join(tmp, 'hf');
  // 256 wide: every matrix's rows are whole Q4_K super-blocks.
  writeTinyModel(dir, 'llama', { seed: 4, hidden: 256, layers: 2, heads: 4, kvHeads: 2, ffn: 512 });
  const st = await readSafetensors(path.join(dir, 'model.safetensors'));
  const tensors = new Map<string, FloatTensor>();
  for (const [k, t] of st.tensors) tensors.set(k, { data: tensorToFloat32(t), shape: t.shape });
  const json = async (f: string) => JSON.parse(await readFile(path.join(dir, f), 'utf8'));
  await writeGgufModel(gguf, { tensors, config: await json('config.json'), tokenizerJson: await json('tokenizer.json'), tokenizerConfig: await json('tokenizer_config.json'), type: 'Q4_K' });
  writeInstructionJsonl(dataFile, TRAIN_NAMES.slice(0, 8));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const base = { model: gguf, data: dataFile, rank: 4, batchSize: 4, learningRate: 2e-3, seed: 7, warmupSteps: 1, valFraction: 0, maxSteps: 4, trainTokens: 'none' as const, threads: 1 };
const losses = (runDir: string): number[] => readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.loss !== undefined).map((r) => r.loss);
/** Whether the cached training graphs multiply by MatMulNBits. */
const trainGraphsUseBlocks = (): boolean[] => {
  const root = path.join(tmp, 'cache', 'graphs');
  return readdirSync(root).filter((d) => d.startsWith('train-')).map((d) => readFileSync(path.join(root, d, 'model.onnx')).includes('MatMulNBits'));
};

describe('tuning on a GGUF Q4_K base', () => {
  it('multiplies the blocks at the default storage, with the losses of the expanding path within 1%', async () => {
    const blocks = await runTuning({ ...base, out: path.join(tmp, 'blocks') });
    expect(trainGraphsUseBlocks()).toEqual([true]);
    // The memory-saving mode expands the matrices (and recomputes activations: the same values).
    const expanded = await runTuning({ ...base, recomputeActivations: true, out: path.join(tmp, 'expanded') });
    expect(trainGraphsUseBlocks().sort()).toEqual([false, true]);
    const [a, b] = [losses(blocks.runDir), losses(expanded.runDir)];
    expect(a.length).toBe(4);
    a.forEach((l, i) => expect(Math.abs(l - b[i]!) / b[i]!, `step ${i + 1}`).toBeLessThan(0.01));
    expect(a[3]).toBeLessThan(a[0]!);
  });
});
