// One canonical tensor naming for Attune: llama.cpp's (token_embd, blk.N.attn_q, ..., output),
// always with a `.weight` or `.bias` suffix. GGUF files use it as is; Hugging Face names map
// through the table below in both directions (cf. llama.cpp gguf-py/gguf/tensor_mapping.py).

/** canonical stem -> HF stem; `{N}` is the block index. */
const STEMS: readonly (readonly [canonical: string, hf: string])[] = [
  ['token_embd', 'model.embed_tokens'],
  ['output_norm', 'model.norm'],
  ['output', 'lm_head'],
  ['blk.{N}.attn_norm', 'model.layers.{N}.input_layernorm'],
  ['blk.{N}.attn_q', 'model.layers.{N}.self_attn.q_proj'],
  ['blk.{N}.attn_k', 'model.layers.{N}.self_attn.k_proj'],
  ['blk.{N}.attn_v', 'model.layers.{N}.self_attn.v_proj'],
  ['blk.{N}.attn_output', 'model.layers.{N}.self_attn.o_proj'],
  ['blk.{N}.attn_q_norm', 'model.layers.{N}.self_attn.q_norm'],
  ['blk.{N}.attn_k_norm', 'model.layers.{N}.self_attn.k_norm'],
  ['blk.{N}.ffn_norm', 'model.layers.{N}.post_attention_layernorm'],
  ['blk.{N}.ffn_gate', 'model.layers.{N}.mlp.gate_proj'],
  ['blk.{N}.ffn_up', 'model.layers.{N}.mlp.up_proj'],
  ['blk.{N}.ffn_down', 'model.layers.{N}.mlp.down_proj'],
];

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const compile = (stem: string): RegExp => new RegExp(`^${esc(stem).replace('\\{N\\}', '(\\d+)')}\\.(weight|bias)$`);
const TO_HF = STEMS.map(([c, h]) => [compile(c), h] as const);
const TO_CANONICAL = STEMS.map(([c, h]) => [compile(h), c] as const);

function translate(name: string, table: readonly (readonly [RegExp, string])[]): string | undefined {
  for (const [re, target] of table) {
    const m = re.exec(name);
    if (!m) continue;
    const suffix = m[m.length - 1];
    const out = m.length === 3 ? target.replace('{N}', m[1]!) : target;
    return `${out}.${suffix}`;
  }
  return undefined;
}

/** `model.layers.3.self_attn.q_proj.weight` -> `blk.3.attn_q.weight`; undefined if unknown. */
export const hfToCanonical = (hfName: string): string | undefined => translate(hfName, TO_CANONICAL);

/** `blk.3.attn_q.weight` -> `model.layers.3.self_attn.q_proj.weight`; undefined if unknown. */
export const canonicalToHf = (name: string): string | undefined => translate(name, TO_HF);

/**
 * How the file being read spells tensor names, and what holds its settings. Attune works in
 * canonical names, but every message to a person names a tensor as their file does: a Hugging
 * Face folder's `model.layers.0.self_attn.q_proj.weight`, a GGUF file's `blk.0.attn_q.weight`.
 */
export interface TensorNaming {
  /** The name of a canonical tensor in the file. */
  inFile(canonical: string): string;
  /** Where the model's settings (shapes, layer count) come from, in words. */
  readonly settings: string;
}

export const HF_NAMING: TensorNaming = { inFile: (c) => canonicalToHf(c) ?? c, settings: 'config.json' };
export const GGUF_NAMING: TensorNaming = { inFile: (c) => c, settings: "the file's metadata" };

/**
 * llama.cpp's converter (LlamaModel.permute) reorders Q/K rows of each head from HF's "halves"
 * RoPE layout (rotate i with i+hd/2) to the interleaved one (rotate 2i with 2i+1):
 *   w.reshape(nHead, 2, hd/2, cols).swapaxes(1, 2)
 * so GGUF row h*hd + 2i + j holds HF row h*hd + j*hd/2 + i. `rows` x `cols` is row-major;
 * pass cols = 1 for a bias.
 */
export function permuteQK(hf: Float32Array, nHead: number, rows: number, cols: number): Float32Array {
  return reorder(hf, nHead, rows, cols, true);
}

/** Inverse of permuteQK: GGUF (interleaved) rows back to HF's layout. */
export function unpermuteQK(gguf: Float32Array, nHead: number, rows: number, cols: number): Float32Array {
  return reorder(gguf, nHead, rows, cols, false);
}

function reorder(src: Float32Array, nHead: number, rows: number, cols: number, toGguf: boolean): Float32Array {
  if (src.length !== rows * cols) throw new Error(`Q/K permutation: ${src.length} values is not ${rows} x ${cols}`);
  const hd = rows / nHead;
  if (!Number.isInteger(hd) || hd % 2) throw new Error(`Q/K permutation: ${rows} rows do not split into ${nHead} heads of even size`);
  const half = hd / 2;
  const out = new Float32Array(src.length);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const g = h * hd + 2 * i + j;
        const f = h * hd + j * half + i;
        const [from, to] = toGguf ? [f, g] : [g, f];
        out.set(src.subarray(from * cols, from * cols + cols), to * cols);
      }
    }
  }
  return out;
}
