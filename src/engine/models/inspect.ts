/**
 * What a person needs to know about a model before choosing it: what it is, how big, whether
 * it has a chat template, and whether it fits this machine for chatting and for tuning.
 */
import os from 'node:os';
import { loadModel, type LoadedModel } from './load.js';
import { parameterCount, type ModelConfig } from './config.js';
import { findUntrainedTokens, type UntrainedToken } from './untrained-tokens.js';
import { BASE_STORAGES, BYTES_PER_WEIGHT, type BaseStorage } from './base-storage.js';

export interface MemoryEstimate {
  inferenceBytes: number;
  /** With the frozen base in F32 (exact). */
  tuningBytes: number;
  /** With the frozen base stored compactly (`--base-storage`). */
  tuningBytesByStorage: Record<BaseStorage, number>;
  machineBytes: number;
  fitsInference: boolean;
  fitsTuning: boolean;
}

export interface ModelReport {
  path: string;
  source: 'huggingface' | 'gguf';
  architecture: string;
  parameters: number;
  dtype: string;
  contextLength: number;
  vocabSize: number;
  layers: number;
  hiddenSize: number;
  hasChatTemplate: boolean;
  chatTemplate?: string;
  stopTokens: string[];
  /** Special tokens the chat template uses whose rows were never trained (Attune trains them). */
  untrainedTokens: UntrainedToken[];
  memory: MemoryEstimate;
}

/** Tokens per optimizer step the estimate assumes (batch x length of the default preset). */
const TUNING_TOKENS_PER_STEP = 2048;

export function estimateMemory(cfg: ModelConfig): MemoryEstimate {
  const params = parameterCount(cfg);
  const weights = params * 4; // F32 on the CPU
  const ctx = Math.min(cfg.maxPositions, 4096);
  const kvCache = cfg.layers * 2 * cfg.kvHeads * cfg.headDim * ctx * 4;
  const inferenceBytes = Math.round((weights + kvCache + cfg.vocab * 4 * 2) * 1.2);
  // Saved activations per token per layer, measured on a SmolLM2-shaped layer (PERF-NOTES.md):
  // about 12 hidden-sized and 6 FFN-sized F32 vectors.
  const activations = cfg.layers * TUNING_TOKENS_PER_STEP * (12 * cfg.hidden + 6 * cfg.ffn) * 4;
  const lossChunk = 256 * cfg.vocab * 4 * 3;
  const tuningFor = (s: BaseStorage) => Math.round((params * BYTES_PER_WEIGHT[s] + activations + lossChunk) * 1.25);
  const tuningBytes = tuningFor('f32');
  const tuningBytesByStorage = Object.fromEntries(BASE_STORAGES.map((s) => [s, tuningFor(s)])) as Record<BaseStorage, number>;
  const machineBytes = os.totalmem();
  return {
    inferenceBytes,
    tuningBytes,
    tuningBytesByStorage,
    machineBytes,
    fitsInference: inferenceBytes < machineBytes * 0.8,
    fitsTuning: tuningBytes < machineBytes * 0.8,
  };
}

export function reportFor(model: LoadedModel): ModelReport {
  const cfg = model.config;
  const tok = model.tokenizer;
  return {
    path: model.path,
    source: model.source,
    architecture: cfg.arch.name,
    parameters: parameterCount(cfg),
    dtype: model.storedDtype,
    contextLength: cfg.maxPositions,
    vocabSize: cfg.vocab,
    layers: cfg.layers,
    hiddenSize: cfg.hidden,
    hasChatTemplate: tok.hasChatTemplate,
    chatTemplate: tok.chatTemplateSource,
    stopTokens: tok.stopTokenIds.map((id) => tok.idToToken(id) ?? String(id)),
    untrainedTokens: findUntrainedTokens(model),
    memory: estimateMemory(cfg),
  };
}

export async function inspectModel(modelPath: string): Promise<ModelReport> {
  // The report reads only the embedding (and head) rows: a folder's other weights stay on disk.
  return reportFor(await loadModel(modelPath, { lazyWeights: true }));
}
