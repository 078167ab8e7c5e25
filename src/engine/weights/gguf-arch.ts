// Architectures Attune moves between GGUF and HF form: one row each. Nothing outside this table
// may switch on an architecture name.

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

export const GGUF_ARCHS: readonly GgufArch[] = [
  // Mistral (MistralForCausalLM) is converted by LlamaModel too: arch "llama", permuted.
  { gguf: 'llama', modelTypes: ['llama', 'mistral'], hfClass: 'LlamaForCausalLM', permuteQK: true, attentionBias: false, qkNorm: false },
  { gguf: 'qwen2', modelTypes: ['qwen2'], hfClass: 'Qwen2ForCausalLM', permuteQK: false, attentionBias: true, qkNorm: false },
  { gguf: 'qwen3', modelTypes: ['qwen3'], hfClass: 'Qwen3ForCausalLM', permuteQK: false, attentionBias: false, qkNorm: true },
];

export const archByGguf = (name: string): GgufArch | undefined => GGUF_ARCHS.find((a) => a.gguf === name);
export const archByModelType = (modelType: string): GgufArch | undefined => GGUF_ARCHS.find((a) => a.modelTypes.includes(modelType));
