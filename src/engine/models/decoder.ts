/**
 * The one decoder definition. Llama, Mistral, Qwen2 and Qwen3 differ only in the switches of
 * their architecture row; the inference graph (with KV cache) and the training-step graph both
 * call `buildDecoder`.
 *
 * Layout: activations are kept flat as [N, D] with N = batch*seq tokens, so every projection is
 * one Gemm against the weight as stored ([out, in], transB=1): no transposed copies of weights,
 * and the tied LM head reads the embedding table itself.
 */
import type { GraphBuilder } from '../onnx/builder.js';
import { attr, type Value } from '../onnx/graph.js';
import { ropeInverseFrequencies, type ModelConfig } from './config.js';
import type { WeightLookup } from './base-storage.js';
import { TARGET_MODULE, type LoraTarget } from './lora-targets.js';
import { swiGlu } from '../onnx/autodiff/rules/activation.js';
import { groupedAttention } from '../onnx/autodiff/rules/attention.js';
import { frozenLinear, mergedLoraLinear } from '../onnx/autodiff/rules/linear.js';
import { recomputedInBackward } from '../onnx/autodiff/rules/recompute.js';
import { residualRmsNorm } from '../onnx/autodiff/rules/norm.js';
import { cachedAttention, cachedAttentionRun, type CachedAttentionRun } from './cached-attention.js';

export interface LoraWiring {
  rank: number;
  targets: readonly LoraTarget[];
  /** The LoRA factors of one layer's projection: A [r, in], B [out, r]. */
  factors(layer: number, target: LoraTarget): { a: Value; b: Value };
  /**
   * Scalar multiplier alpha/rank (training). The inference graph has none: the fed A factors are
   * already multiplied by it (and by 0 for the base model), which saves a node per projection.
   */
  scale?: Value;
  /**
   * Inference: the factors of a group's adapters as one product (see STACKED_GROUPS): A [m r, in]
   * the m adapted projections' A stacked, B [the group's output rows, m r] block-diagonal.
   */
  stackedFactors?(layer: number, group: StackedGroup, adapted: readonly LoraTarget[]): { a: Value; b: Value };
  /**
   * Training: merge the adapter into the weight, W' = W + s B A, so the forward pass and the
   * input gradient are one GEMM each instead of three (PERF-NOTES). `s` must then be a constant.
   */
  mergedScale?: number;
  /** Training: dropout on the adapter's input (PEFT's lora_dropout); returns the dropped-out x. */
  dropout?: (x: Value, layer: number, target: LoraTarget) => Value;
  /** Training: recompute each layer in the backward pass instead of keeping its activations. */
  recompute?: boolean;
}

export interface DecoderInputs {
  /** [B, T] int64 token ids. */
  ids: Value;
  /** Embedding rows for the ids, [N, D]; built by the caller (lets training add token deltas). */
  embeddings: Value;
  /**
   * Past keys/values per layer [B, KV, P, hd]; absent in the training graph. With the fused
   * layers (see usesFusedLayers) they are position-major cache buffers [fed, 1, KV, hd] (see
   * cached-attention.ts), and `pastLength` says how much of them is filled.
   */
  past?: { key: Value; value: Value }[];
  /** int32 [1]: the filled length of the cache buffers (fused layers). */
  pastLength?: Value;
  /** The names the caller will give the fused layers' new keys and values as graph outputs. */
  presentName?: (layer: number, kind: 'key' | 'value') => string;
}

/**
 * Projections with the same input that the inference graph multiplies as one stacked matrix
 * (one kernel call, one quantization of the input), outputs side by side in this order.
 */
export const STACKED_GROUPS = { attn_qkv: ['q', 'k', 'v'], ffn_gate_up: ['gate', 'up'] } as const satisfies Record<string, readonly LoraTarget[]>;
export type StackedGroup = keyof typeof STACKED_GROUPS;

/**
 * Inference graphs of real models (head_dim a multiple of 16) take the fused layers: stacked
 * products, cache buffers read in place (cached-attention.ts). Tiny test models with smaller heads
 * take the general path, one op per step, which the tests hold the fused layers to.
 */
export function usesFusedLayers(cfg: ModelConfig): boolean {
  return cfg.headDim % 16 === 0;
}

export interface DecoderOutputs {
  /** Final-normed hidden states [N, D]. */
  hidden: Value;
  /** Keys/values per layer: past and new [B, KV, P + T, hd]; with the fused layers the new T only. */
  present: { key: Value; value: Value }[];
}

export function buildDecoder(
  g: GraphBuilder,
  cfg: ModelConfig,
  weight: WeightLookup,
  inp: DecoderInputs,
  lora?: LoraWiring,
): DecoderOutputs {
  const { heads: H, kvHeads: KV, headDim: hd } = cfg;
  const group = H / KV;
  const dims = g.scope('dims', () => {
    const bt = g.shapeOf(inp.ids, 0, 2, 'batch_seq'); // [B, T]
    const seqLen = g.squeeze(g.shapeOf(inp.ids, 1, 2, 'seq_len'), [0], 'seq_len_scalar');
    const pastLen = inp.pastLength
      ? g.squeeze(g.cast(inp.pastLength, 'int64', 'past_len'), [0], 'past_len_scalar')
      : inp.past
        ? g.squeeze(g.shapeOf(inp.past[0].key, 2, 3, 'past_len'), [0], 'past_len_scalar')
        : g.scalar(0, 'int64');
    return { bt, seqLen, pastLen };
  });

  const rope = g.scope('rope', () => {
    const one = g.scalar(1, 'int64');
    const end = g.add(dims.pastLen, dims.seqLen, 'end');
    const pos = g.cast(g.range(dims.pastLen, end, one, 'seq', 'positions_i'), 'float32', 'positions'); // [T]
    const inv = ropeInverseFrequencies(cfg);
    const invFreq = g.constant('float32', [1, hd / 2], inv, 'rope_inv_freq');
    const freqs = g.mul(g.unsqueeze(pos, [1], 'positions_col'), invFreq, 'freqs'); // [T, hd/2]
    const emb = g.concat([freqs, freqs], -1, 'emb'); // [T, hd]
    // Causal mask for queries at absolute positions P..P+T-1 over keys 0..P+T-1.
    const keyPos = g.range(g.scalar(0, 'int64'), end, one, 'total', 'key_positions'); // [S]
    const qPosCol = g.unsqueeze(g.range(dims.pastLen, end, one, 'seq', 'query_positions'), [1], 'query_col'); // [T,1]
    const future = g.greater(g.unsqueeze(keyPos, [0], 'key_row'), qPosCol, 'future'); // [T, S]
    const mask = g.where(future, g.scalar(-1e9), g.scalar(0), 'causal_mask');
    // Inference: ORT's fused RotaryEmbedding reads cos/sin tables by absolute position.
    const fused = g.inferenceOnly ? fusedRopeInputs(g, cfg, g.unsqueeze(g.range(dims.pastLen, end, one, 'seq', 'position_ids_row'), [0], 'position_ids')) : undefined;
    return { cos: g.cos(emb, 'cos'), sin: g.sin(emb, 'sin'), mask, fused };
  });

  const shapeBTHd = (n: number) => g.concat([dims.bt, g.ints([n, hd])], 0, `shape_bt_${n}_hd`);
  const applyRope = (x: Value, name: string) => {
    if (rope.fused) {
      const { positions, cosCache, sinCache } = rope.fused;
      return g.op('RotaryEmbedding', [x, positions, cosCache, sinCache], { interleaved: attr.int(0) }, { name, domain: 'com.microsoft', outputs: [{ dtype: x.dtype, shape: x.shape }] })[0];
    }
    // HF rotate_half convention: pairs (i, i + hd/2).
    const x1 = g.slice(x, [0], [hd / 2], [-1], `${name}_lo`);
    const x2 = g.slice(x, [hd / 2], [hd], [-1], `${name}_hi`);
    const rotated = g.concat([g.neg(x2, `${name}_hi_neg`), x1], -1, `${name}_rot`);
    return g.add(g.mul(x, rope.cos, `${name}_cos`), g.mul(rotated, rope.sin, `${name}_sin`), name);
  };

  /** The frozen base's product for one projection; `compressed`: multiplied as stored (integer kernels). */
  const baseProduct = (weight: WeightLookup, x: Value, mod: string, name: string, hasBias: boolean) => {
    const bias = hasBias ? weight(`${mod}.bias`) : undefined;
    // A compressed matrix is multiplied as stored, else expanded to F32; an expanded compressed
    // weight is expanded again for the input gradient.
    const again = weight.recompute;
    const compressed = weight.linear?.(`${mod}.weight`, x, bias, name);
    return { value: compressed ?? frozenLinear(g, x, weight(`${mod}.weight`), bias, again && (() => again(`${mod}.weight`)), name), compressed: !!compressed };
  };
  /** base + (x A^T) B^T, times the scale where the graph applies one. */
  const withAdapter = (x: Value, base: Value, a: Value, b: Value, name: string) => {
    const down = g.gemm(x, a, { transB: true }, `${name}_lora_a`);
    return g.gemm(lora?.scale ? g.mul(down, lora.scale, `${name}_lora_scaled`) : down, b, { transB: true, c: base }, `${name}_lora`);
  };

  const projectWith = (weight: WeightLookup) => (x: Value, layer: number, target: LoraTarget, hasBias: boolean) => {
    const mod = `blk.${layer}.${TARGET_MODULE[target]}`;
    const base = baseProduct(weight, x, mod, TARGET_MODULE[target], hasBias);
    if (!lora || !lora.targets.includes(target)) return base.value;
    const { a, b } = lora.factors(layer, target);
    // (A compressed base keeps the adapter beside the product: merging would expand the weight.)
    if (!base.compressed && lora.mergedScale !== undefined && !lora.dropout) {
      return mergedLoraLinear(g, x, weight(`${mod}.weight`), hasBias ? weight(`${mod}.bias`) : undefined, a, b, lora.mergedScale, TARGET_MODULE[target]);
    }
    return withAdapter(lora.dropout ? lora.dropout(x, layer, target) : x, base.value, a, b, TARGET_MODULE[target]);
  };

  let x = inp.embeddings; // [N, D]
  const present: { key: Value; value: Value }[] = [];
  /** One decoder layer; `weight` is the lookup to use (the recomputation passes its own). */
  const layer = (l: number, x: Value, weight: WeightLookup): Value => {
    const project = projectWith(weight);
    const h = g.rmsNorm(x, weight(`blk.${l}.attn_norm.weight`), cfg.rmsEps, 'attn_norm');
    let q = g.reshapeTo(project(h, l, 'q', cfg.arch.qkvBias), shapeBTHd(H), ['batch', 'seq', H, hd], 'q_heads'); // [B,T,H,hd]
    let k = g.reshapeTo(project(h, l, 'k', cfg.arch.qkvBias), shapeBTHd(KV), ['batch', 'seq', KV, hd], 'k_heads'); // [B,T,KV,hd]
    const v = g.reshapeTo(project(h, l, 'v', cfg.arch.qkvBias), shapeBTHd(KV), ['batch', 'seq', KV, hd], 'v_heads');
    if (cfg.arch.qkNorm) {
      q = g.rmsNorm(q, weight(`blk.${l}.attn_q_norm.weight`), cfg.rmsEps, 'q_norm');
      k = g.rmsNorm(k, weight(`blk.${l}.attn_k_norm.weight`), cfg.rmsEps, 'k_norm');
    }
    const past = inp.past?.[l];
    const qr = applyRope(g.transpose(q, [0, 2, 1, 3], 'q_t'), 'q_rope'); // [B,H,T,hd]
    const kr = applyRope(g.transpose(k, [0, 2, 1, 3], 'k_t'), 'k_rope'); // [B,KV,T,hd]
    const vt = g.transpose(v, [0, 2, 1, 3], 'v_t'); // [B,KV,T,hd]
    const kAll = past ? g.concat([past.key, kr], 2, 'k_all') : kr; // [B,KV,S,hd]
    const vAll = past ? g.concat([past.value, vt], 2, 'v_all') : vt;
    present.push({ key: kAll, value: vAll });

    // Grouped-query attention without repeating K/V: queries as [B, KV, group, T, hd].
    const qScaled = g.mul(qr, g.scalar(1 / Math.sqrt(hd)), 'q_scaled');
    const q5 = g.reshape(qScaled, ['batch', KV, group, 'seq', hd], 'q_grouped');
    const ctx = groupedAttention(g, q5, kAll, vAll, rope.mask); // [B,KV,G,T,hd]
    const ctxHeads = g.reshape(ctx, ['batch', H, 'seq', hd], 'ctx_heads'); // [B,H,T,hd]
    const ctxFlat = g.reshape(g.transpose(ctxHeads, [0, 2, 1, 3], 'ctx_t'), ['tokens', H * hd], 'ctx_flat'); // [N, H*hd]
    const attnOut = project(ctxFlat, l, 'o', false);
    const x1 = g.add(x, attnOut, 'attn_residual');

    const h2 = g.rmsNorm(x1, weight(`blk.${l}.ffn_norm.weight`), cfg.rmsEps, 'ffn_norm');
    const gate = project(h2, l, 'gate', false);
    const up = project(h2, l, 'up', false);
    const act = swiGlu(g, gate, up);
    return g.add(x1, project(act, l, 'down', false), 'ffn_residual');
  };

  // Inference over cache buffers: fused kernels and stacked products, a layer in about two dozen
  // small nodes (a decoded token pays ORT's per-node cost for each).
  if (rope.fused && inp.past && usesFusedLayers(cfg)) {
    if (!inp.pastLength) throw new Error('decoder: the fused layers read their cache buffers up to pastLength');
    const past = inp.past;
    const run = g.scope('attention_run', () => cachedAttentionRun(g, cfg, past[0]!.key, dims.pastLen, dims.seqLen));
    let res: Residual = { x };
    for (let l = 0; l < cfg.layers; l++) {
      const input = res;
      res = g.scope(`blk.${l}`, () => fusedLayer(l, input, run, past[l]!));
    }
    return { hidden: normed(res, 'output_norm.weight', 'output_norm').normed, present };
  }

  for (let l = 0; l < cfg.layers; l++) {
    const input = x;
    x = g.scope(`blk.${l}`, () => layer(l, input, weight));
    if (lora?.recompute) x = recomputedInBackward(g, String(l), input, x, loraFactors(lora, l), (xr) => g.scope(`blk.${l}`, () => layer(l, xr, weight.recompute ? recomputeLookup(weight) : weight)));
  }
  const hidden = g.rmsNorm(x, weight('output_norm.weight'), cfg.rmsEps, 'output_norm');
  return { hidden, present };

  /** RMSNorm of a pending residual sum (SkipSimplifiedLayerNormalization), and the sum. */
  function normed(res: Residual, norm: string, name: string): { sum: Value; normed: Value } {
    if (!res.delta) return { sum: res.x, normed: g.rmsNorm(res.x, weight(norm), cfg.rmsEps, name) };
    return residualRmsNorm(g, res.x, res.delta, weight(norm), cfg.rmsEps, name);
  }

  /**
   * One layer for inference: attention reads the caller's cache buffers in place (see
   * cached-attention.ts); q, k and v come from one product, gate and up from another; each
   * residual sum is made by the norm that follows it. Returns the layer's output as a pending
   * sum x + delta.
   */
  function fusedLayer(l: number, res: Residual, run: CachedAttentionRun, past: { key: Value; value: Value }): Residual {
    const project = projectWith(weight);
    const { sum: x0, normed: h } = normed(res, `blk.${l}.attn_norm.weight`, 'attn_norm');
    // One sequence a run (input_ids [1, T]): q, k and v stay position-major, [1, T, n * hd], as
    // the products give them; RoPE takes them so (3D); k and v are the new cache rows as they are.
    const rows = (t: Value, n: number, name: string) => g.reshape(t, [1, 'seq', n * hd], name);
    let q: Value, k: Value, v: Value;
    if (cfg.arch.qkNorm) {
      // Per-head norms on q and k before RoPE: three products, three inputs.
      const normedHeads = (t: Value, n: number, norm: string, name: string) =>
        rows(g.rmsNorm(g.reshape(t, ['tokens', n, hd], `${name}_heads`), weight(`blk.${l}.attn_${norm}_norm.weight`), cfg.rmsEps, `${name}_norm`), n, `${name}_rows`);
      q = applyRope(normedHeads(project(h, l, 'q', cfg.arch.qkvBias), H, 'q', 'q'), 'q_rope');
      k = applyRope(normedHeads(project(h, l, 'k', cfg.arch.qkvBias), KV, 'k', 'k'), 'k_rope');
      v = project(h, l, 'v', cfg.arch.qkvBias);
    } else {
      // One product; RoPE on the q and k heads together (they share the positions).
      const [qk, values] = g.op('Split', [stacked(h, l, 'attn_qkv', cfg.arch.qkvBias), g.ints([(H + KV) * hd, KV * hd])], { axis: attr.int(1) }, { name: 'qk_v', outputs: [{ dtype: 'float32', shape: ['tokens', (H + KV) * hd] }, { dtype: 'float32', shape: ['tokens', KV * hd] }] });
      [q, k] = g.op('Split', [applyRope(rows(qk!, H + KV, 'qk_rows'), 'qk_rope'), g.ints([H * hd, KV * hd])], { axis: attr.int(2) }, { name: 'q_k', outputs: [{ dtype: 'float32', shape: [1, 'seq', H * hd] }, { dtype: 'float32', shape: [1, 'seq', KV * hd] }] }) as [Value, Value];
      v = values!;
    }
    // The new positions as the cache keeps them, [T, 1, KV, hd] (see cached-attention.ts),
    // named as the graph's outputs when the caller names them (no Identity node a layer).
    const cacheRows = (t: Value, kind: 'key' | 'value') => {
      const name = inp.presentName?.(l, kind);
      return g.op('Reshape', [t, g.ints([-1, 1, KV, hd])], {}, { name: name ?? `present_${kind}`, exactName: name !== undefined, outputs: [{ dtype: 'float32', shape: ['seq', 1, KV, hd] }] })[0]!;
    };
    const fresh = { key: cacheRows(k, 'key'), value: cacheRows(v, 'value') };
    present.push(fresh);
    const queries = g.transpose(g.reshape(q, [1, 'seq', H, hd], 'q_heads'), [0, 2, 1, 3], 'q_t');
    const context = g.reshape(cachedAttention(g, cfg, run, queries, fresh, past), [1, H, 'seq', hd], 'context_heads');
    const out = g.reshape(g.transpose(context, [0, 2, 1, 3], 'context_t'), ['tokens', H * hd], 'context_flat');
    const attnOut = project(out, l, 'o', false);
    const { sum: x1, normed: h2 } = normed({ x: x0, delta: attnOut }, `blk.${l}.ffn_norm.weight`, 'ffn_norm');
    const F = cfg.ffn;
    const [gate, up] = g.op('Split', [stacked(h2, l, 'ffn_gate_up', false), g.ints([F, F])], { axis: attr.int(1) }, { name: 'ffn_gate_up_split', outputs: [{ dtype: 'float32', shape: ['tokens', F] }, { dtype: 'float32', shape: ['tokens', F] }] });
    const act = swiGlu(g, gate!, up!);
    return { x: x1, delta: project(act, l, 'down', false) };
  }

  /**
   * A group's projections of a layer as one product, outputs side by side: the stacked matrices
   * where they are stored alike, else the products concatenated; their adapters likewise as one
   * (A stacked, B block-diagonal; see LoraWiring.stackedFactors).
   */
  function stacked(h: Value, l: number, group: StackedGroup, hasBias: boolean): Value {
    const targets = STACKED_GROUPS[group];
    const mods = targets.map((t) => `blk.${l}.${TARGET_MODULE[t]}`);
    const bias = hasBias ? mods.map((m) => `${m}.bias`) : undefined;
    const base =
      weight.stacked?.(`blk.${l}.${group}`, mods.map((m) => `${m}.weight`), bias, h, group) ??
      g.concat(targets.map((t, i) => baseProduct(weight, h, mods[i]!, TARGET_MODULE[t], hasBias).value), 1, group);
    const adapted = lora ? targets.filter((t) => lora.targets.includes(t)) : [];
    if (!lora || adapted.length === 0) return base;
    if (!lora.stackedFactors) throw new Error('decoder: the inference graph must give stacked adapter factors');
    const { a, b } = lora.stackedFactors(l, group, adapted);
    return withAdapter(h, base, a, b, group);
  }
}

/** A residual sum x + delta not yet added: the next norm adds it (SkipSimplifiedLayerNormalization). */
interface Residual {
  x: Value;
  delta?: Value;
}

/** The LoRA factors of one layer, [A, B] per target. */
function loraFactors(lora: LoraWiring, l: number): Value[] {
  return lora.targets.flatMap((t) => {
    const { a, b } = lora.factors(l, t);
    return [a, b];
  });
}

/** A lookup whose every expansion of a compressed weight is a fresh one (none from the forward pass). */
function recomputeLookup(weight: WeightLookup): WeightLookup {
  const again = weight.recompute!;
  return Object.assign((name: string) => again(name), { recompute: again, linear: weight.linear, rows: weight.rows });
}

/**
 * Inputs of com.microsoft RotaryEmbedding (rotate-halves layout, as HF): position ids [1, T]
 * (generation runs one sequence at a time) and cos/sin tables [maxPositions, hd/2].
 */
function fusedRopeInputs(g: GraphBuilder, cfg: ModelConfig, positions: Value) {
  g.opsets.set('com.microsoft', 1);
  const half = cfg.headDim / 2;
  const inv = ropeInverseFrequencies(cfg);
  const cos = new Float32Array(cfg.maxPositions * half);
  const sin = new Float32Array(cfg.maxPositions * half);
  for (let p = 0; p < cfg.maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      // The angle in float32 first, as the unfused graph computes it.
      const angle = Math.fround(p * inv[i]);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer);
  return {
    positions,
    cosCache: g.initializer('rope.cos_cache', 'float32', [cfg.maxPositions, half], bytes(cos)),
    sinCache: g.initializer('rope.sin_cache', 'float32', [cfg.maxPositions, half], bytes(sin)),
  };
}

/** The LM head weight: `output.weight`, or the embedding table when tied. */
export function lmHeadName(cfg: ModelConfig): string {
  return cfg.tieEmbeddings ? 'token_embd.weight' : 'output.weight';
}
