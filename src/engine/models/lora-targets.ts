/**
 * The LoRA target table: which projections of a decoder layer an adapter can adapt, the canonical
 * (llama.cpp style) module of each, and its [out, in] shape. The decoder, the weights, the
 * training-step graph and the adapter files all read it from here.
 */
import type { ModelConfig } from './config.js';
import { LORA_TARGETS, type LoraTarget } from '../../shared/lora-targets.js';

export { LORA_TARGETS, type LoraTarget };

/** Canonical module (llama.cpp style) of each LoRA target. */
export const TARGET_MODULE: Record<LoraTarget, string> = {
  q: 'attn_q',
  k: 'attn_k',
  v: 'attn_v',
  o: 'attn_output',
  gate: 'ffn_gate',
  up: 'ffn_up',
  down: 'ffn_down',
};

/** Input/output sizes of each projection: [out, in]. */
export function projectionShape(cfg: ModelConfig, t: LoraTarget): [number, number] {
  const q = cfg.heads * cfg.headDim;
  const kv = cfg.kvHeads * cfg.headDim;
  switch (t) {
    case 'q': return [q, cfg.hidden];
    case 'k': return [kv, cfg.hidden];
    case 'v': return [kv, cfg.hidden];
    case 'o': return [cfg.hidden, q];
    case 'gate': return [cfg.ffn, cfg.hidden];
    case 'up': return [cfg.ffn, cfg.hidden];
    case 'down': return [cfg.hidden, cfg.ffn];
  }
}
