/** The adapter on disk is PEFT's format: key names, config fields, and a lossless round trip. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAdapter, saveAdapter, type Adapter } from '../../../src/engine/adapter/adapter.js';
import { baseRows } from '../../../src/engine/generate/chat-session.js';
import { loadModel } from '../../../src/engine/models/load.js';
import { projectionShape } from '../../../src/engine/models/lora-targets.js';
import { readSafetensors } from '../../../src/engine/weights/safetensors.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-peft-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('PEFT adapter format', () => {
  for (const tie of [true, false]) {
    it(`saves and loads LoRA factors and token rows (${tie ? 'tied' : 'untied'})`, async () => {
      const dir = path.join(tmp, `m-${tie}`);
      writeTinyModel(dir, 'llama', { seed: 2, tie });
      const model = await loadModel(dir);
      const cfg = model.config;
      const factors = new Map<string, { a: Float32Array; b: Float32Array }>();
      for (let l = 0; l < cfg.layers; l++) {
        for (const t of ['q', 'v', 'down'] as const) {
          const [out, inp] = projectionShape(cfg, t);
          factors.set(`blk.${l}.${t}`, { a: Float32Array.from({ length: 4 * inp }, (_, i) => Math.sin(i + l)), b: Float32Array.from({ length: out * 4 }, (_, i) => Math.cos(i * t.length)) });
        }
      }
      const ids = [2, 7];
      const base = baseRows(model, ids);
      const adapter: Adapter = {
        rank: 4, alpha: 8, dropout: 0.05, targets: ['q', 'v', 'down'], factors, template: 'alpaca',
        tokenRows: { ids, embed: base.embed.map((x) => x + 1), baseEmbed: base.embed, head: base.head?.map((x) => x - 1), baseHead: base.head },
      };
      const out = path.join(tmp, `adapter-${tie}`);
      await saveAdapter(out, adapter, cfg);
      const config = JSON.parse(readFileSync(path.join(out, 'adapter_config.json'), 'utf8'));
      expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, lora_dropout: 0.05, target_modules: ['q_proj', 'v_proj', 'down_proj'] });
      expect(config.trainable_token_indices).toEqual(tie ? ids : { embed_tokens: ids, lm_head: ids });
      const keys = [...(await readSafetensors(path.join(out, 'adapter_model.safetensors'))).tensors.keys()];
      expect(keys).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
      expect(keys).toContain('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight');
      expect(keys).toContain('base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta');
      expect(keys.includes('base_model.model.lm_head.token_adapter.trainable_tokens_delta')).toBe(!tie);
      const back = await loadAdapter(out, cfg, (x) => baseRows(model, x));
      expect(back.rank).toBe(4);
      expect(back.alpha).toBe(8);
      expect(back.targets).toEqual(['q', 'v', 'down']);
      expect(back.template).toBe('alpaca');
      for (const [k, f] of factors) {
        expect(Array.from(back.factors.get(k)!.a)).toEqual(Array.from(f.a));
        expect(Array.from(back.factors.get(k)!.b)).toEqual(Array.from(f.b));
      }
      expect(Array.from(back.tokenRows!.embed)).toEqual(Array.from(adapter.tokenRows!.embed));
      expect(Array.from(back.tokenRows!.baseEmbed)).toEqual(Array.from(base.embed));
      if (!tie) expect(Array.from(back.tokenRows!.head!)).toEqual(Array.from(adapter.tokenRows!.head!));
    });
  }

  it('refuses an adapter for a different model, naming the tensor', async () => {
    const small = path.join(tmp, 'small');
    const big = path.join(tmp, 'big');
    writeTinyModel(small, 'llama', { seed: 1, hidden: 16 });
    writeTinyModel(big, 'llama', { seed: 1, hidden: 32 });
    const s = await loadModel(small);
    const [out, inp] = projectionShape(s.config, 'q');
    const factors = new Map(Array.from({ length: s.config.layers }, (_, l) => [`blk.${l}.q`, { a: new Float32Array(2 * inp), b: new Float32Array(out * 2) }]));
    await saveAdapter(path.join(tmp, 'small-adapter'), { rank: 2, alpha: 2, dropout: 0, targets: ['q'], factors }, s.config);
    const b = await loadModel(big);
    await expect(loadAdapter(path.join(tmp, 'small-adapter'), b.config)).rejects.toThrow(/q_proj\.lora_A\.weight has shape \[2,16\] but this model needs \[2,32\]/);
  });

  it('refuses a pickle adapter and a missing folder', async () => {
    const model = await loadModel(path.join(tmp, 'small'));
    await expect(loadAdapter(path.join(tmp, 'nowhere'), model.config)).rejects.toThrow(/adapter_config\.json is missing/);
  });
});
