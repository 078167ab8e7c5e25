// The GGUF view of the one architecture table (src/engine/models/architectures.ts): one row per
// GGUF `general.architecture`, listing the HF model types llama.cpp's converter writes as it.
import { ARCHITECTURES } from '../models/architectures.js';

export interface GgufArch {
  /** general.architecture */
  gguf: string;
  /** HF config.model_type values that convert to this GGUF architecture */
  modelTypes: readonly string[];
  /** HF `architectures[0]` written when reading this GGUF architecture */
  hfClass: string;
  /** convert_hf_to_gguf.py LlamaModel permutes Q/K rows (undo_permute); Qwen2Model/Qwen3Model do not */
  permuteQK: boolean;
  /** HF config keys this architecture sets from tensors present (q/k/v bias, q/k norm) */
  attentionBias: boolean;
  qkNorm: boolean;
}

export const GGUF_ARCHS: readonly GgufArch[] = ARCHITECTURES.filter((a) => a.ggufName === a.name).map((a) => ({
  gguf: a.ggufName,
  // Mistral (MistralForCausalLM) is converted by LlamaModel too: arch "llama", permuted.
  modelTypes: ARCHITECTURES.filter((b) => b.ggufName === a.ggufName).flatMap((b) => b.hfModelTypes),
  hfClass: a.hfArchitectures[0],
  permuteQK: a.ggufPermutesQK,
  attentionBias: a.qkvBias,
  qkNorm: a.qkNorm,
}));

export const archByGguf = (name: string): GgufArch | undefined => GGUF_ARCHS.find((a) => a.gguf === name);
export const archByModelType = (modelType: string): GgufArch | undefined => GGUF_ARCHS.find((a) => a.modelTypes.includes(modelType));
