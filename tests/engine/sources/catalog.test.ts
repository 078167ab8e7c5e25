/**
 * The catalog in resources/models-catalog.json: the models the issue names, only supported
 * architectures, and figures that agree with the engine (parameter count from the config) and
 * memory to tune from the engine's own estimate.
 */
import { describe, expect, it } from 'vitest';
import { catalogEntries, catalogMemory, fitOf } from '../../../src/engine/sources/index.js';
import { parameterCount, parseHfConfig } from '../../../src/engine/models/config.js';
import { estimateMemory } from '../../../src/engine/models/inspect.js';
import { ARCHITECTURES } from '../../../src/engine/models/architectures.js';

describe('the model catalog', () => {
  const entries = catalogEntries();
  it('holds the recommended models with licence, gating, size and a sentence each', () => {
    expect(entries.map((e) => e.repo)).toEqual([
      'HuggingFaceTB/SmolLM2-135M-Instruct',
      'HuggingFaceTB/SmolLM2-360M-Instruct',
      'HuggingFaceTB/SmolLM2-1.7B-Instruct',
      'Qwen/Qwen2.5-0.5B-Instruct',
      'Qwen/Qwen2.5-1.5B-Instruct',
      'Qwen/Qwen2.5-3B-Instruct',
      'Qwen/Qwen3-0.6B',
      'Qwen/Qwen3-1.7B',
      'meta-llama/Llama-3.2-1B-Instruct',
      'meta-llama/Llama-3.2-3B-Instruct',
      'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
    ]);
    expect(entries.filter((e) => e.gated).map((e) => e.repo)).toEqual(['meta-llama/Llama-3.2-1B-Instruct', 'meta-llama/Llama-3.2-3B-Instruct']);
    for (const e of entries) {
      expect(ARCHITECTURES.map((a) => a.name)).toContain(e.architecture);
      expect(e.description).toMatch(/^[A-Z].*\.$/);
      expect(e.licence.length).toBeGreaterThan(3);
      // bf16 safetensors: about two bytes per parameter (Qwen3 also stores its tied output head)
      expect(e.downloadBytes / e.parameters).toBeGreaterThan(1.9);
      expect(e.downloadBytes / e.parameters).toBeLessThan(2.6);
    }
  });

  it("agrees with the engine: the config gives the stated parameter count and the memory is the engine's estimate", () => {
    for (const e of entries) {
      const cfg = parseHfConfig(e.config, e.repo);
      expect(cfg.arch.name, e.repo).toBe(e.architecture);
      expect(Math.abs(parameterCount(cfg) / e.parameters - 1), e.repo).toBeLessThan(0.01);
      const m = catalogMemory(e, 16e9);
      expect(m.tuningBytes).toBe(estimateMemory(cfg).tuningBytes);
      expect(m.fit).toBe(fitOf(m.tuningBytes, 16e9));
    }
    // on a 16 GB computer the smallest fits and the 3B models do not in F32
    expect(catalogMemory(entries[0], 16e9).fit).toBe('fits');
    expect(catalogMemory(entries.find((e) => e.repo === 'meta-llama/Llama-3.2-3B-Instruct')!, 16e9).fit).not.toBe('fits');
  });
});
