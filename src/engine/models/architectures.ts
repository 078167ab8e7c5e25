/**
 * Every supported architecture is one row of this table: the switches in which it differs from
 * the Llama decoder. Nothing outside this file asks "is this qwen2?"; code reads the switches.
 */
export interface ArchitectureRow {
  /** Attune's name, also the GGUF `general.architecture`. */
  name: 'llama' | 'mistral' | 'qwen2' | 'qwen3';
  /** Hugging Face config `model_type` values that map to this row. */
  hfModelTypes: string[];
  hfArchitectures: string[];
  /** Biases on the q, k and v projections (Qwen2). */
  qkvBias: boolean;
  /** RMSNorm of each query/key head before RoPE (Qwen3). */
  qkNorm: boolean;
  /** GGUF `general.architecture` llama.cpp's converter writes (Mistral is converted as llama). */
  ggufName: 'llama' | 'qwen2' | 'qwen3';
  /** llama.cpp stores Q/K rows permuted for this architecture (convert_hf_to_gguf's LlamaModel.permute). */
  ggufPermutesQK: boolean;
  /** Example models a person might recognise, for messages. */
  examples: string;
}

export const ARCHITECTURES: readonly ArchitectureRow[] = [
  {
    name: 'llama',
    hfModelTypes: ['llama'],
    hfArchitectures: ['LlamaForCausalLM'],
    qkvBias: false,
    qkNorm: false,
    ggufName: 'llama',
    ggufPermutesQK: true,
    examples: 'Llama 3.x, SmolLM/SmolLM2, TinyLlama',
  },
  {
    name: 'mistral',
    hfModelTypes: ['mistral'],
    hfArchitectures: ['MistralForCausalLM'],
    qkvBias: false,
    qkNorm: false,
    ggufName: 'llama',
    ggufPermutesQK: true,
    examples: 'Mistral 7B',
  },
  {
    name: 'qwen2',
    hfModelTypes: ['qwen2'],
    hfArchitectures: ['Qwen2ForCausalLM'],
    qkvBias: true,
    qkNorm: false,
    ggufName: 'qwen2',
    ggufPermutesQK: false,
    examples: 'Qwen2, Qwen2.5',
  },
  {
    name: 'qwen3',
    hfModelTypes: ['qwen3'],
    hfArchitectures: ['Qwen3ForCausalLM'],
    qkvBias: false,
    qkNorm: true,
    ggufName: 'qwen3',
    ggufPermutesQK: false,
    examples: 'Qwen3',
  },
];

export function findArchitecture(modelType: string | undefined): ArchitectureRow | undefined {
  return ARCHITECTURES.find((a) => modelType !== undefined && (a.hfModelTypes.includes(modelType) || a.name === modelType));
}

export function supportedArchitecturesText(): string {
  return ARCHITECTURES.map((a) => `${a.name} (${a.examples})`).join(', ');
}
