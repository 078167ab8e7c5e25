/**
 * The inference graph: prefill and decode with a KV cache, from the one decoder definition.
 *
 * Inputs:  input_ids [B, T] int64; past.{l}.key / past.{l}.value [B, KV, P, hd], or with the
 *          fused layers the whole cache buffers [B, KV, capacity, hd] and past_length
 *          (int32 [1], how much is filled; KvCache builds both forms);
 *          with LoRA: lora.{module}.A/B, A already times alpha/r and the tuned share (0 = the
 *          base model, 1 = tuned); with the fused layers, the q/k/v and the gate/up adapters
 *          stacked (lora.blk.{l}.attn_qkv.A/B, ...ffn_gate_up...; see stackedAdapterLayout).
 *          Build feeds with `adapterFeeds`.
 * Outputs: logits [B, T, V] (or [B, 1, V] with lastTokenOnly); present.{l}.key/value: past and
 *          new [B, KV, P + T, hd], or with the fused layers the run's new T positions only.
 */
import { GraphBuilder } from '../onnx/builder.js';
import type { Value } from '../onnx/graph.js';
import type { ModelConfig } from './config.js';
import { buildDecoder, lmHeadName, STACKED_GROUPS, usesFusedLayers, type LoraWiring, type StackedGroup } from './decoder.js';
import { projectionShape, TARGET_MODULE, type LoraTarget } from './lora-targets.js';
import type { ModelWeights } from './weights.js';
import { storedWeightLookup, type BaseStorage } from './base-storage.js';

export interface InferenceGraphOptions {
  /** Only the last position's logits (generation); all positions for scoring and tests. */
  lastTokenOnly: boolean;
  /** LoRA slots fed at run time, so one session serves base and tuned. */
  lora?: { rank: number; targets: readonly LoraTarget[] };
  /** Embedding/head rows that an adapter may replace (trainable tokens), fed at run time. */
  tokenRows?: number[];
  /** How the frozen weights are stored (default f32). */
  baseStorage?: BaseStorage;
  /**
   * Multiply by compressed matrices (int8/int4 storage, a GGUF file's Q8_0/Q4_0 blocks) without
   * expanding them: integer kernels (default true). False expands them to F32 (the reference).
   */
  compressedCompute?: boolean;
}

export function loraInputName(layer: number, target: LoraTarget, factor: 'A' | 'B'): string {
  return `lora.blk.${layer}.${TARGET_MODULE[target]}.${factor}`;
}

export function stackedLoraInputName(layer: number, group: StackedGroup, factor: 'A' | 'B'): string {
  return `lora.blk.${layer}.${group}.${factor}`;
}

/**
 * Where a group's adapters go in its stacked factors: A's row blocks are the adapted projections
 * in the group's order (`adapted`), B's rows are all of the group's outputs, each projection's
 * from `rowOffset`, its column blocks those of A's row blocks, zero elsewhere.
 */
export function stackedAdapterLayout(cfg: ModelConfig, group: StackedGroup, targets: readonly LoraTarget[]): { adapted: LoraTarget[]; rowOffset: Map<LoraTarget, number>; rows: number } {
  const rowOffset = new Map<LoraTarget, number>();
  let rows = 0;
  for (const t of STACKED_GROUPS[group]) {
    rowOffset.set(t, rows);
    rows += projectionShape(cfg, t)[0];
  }
  return { adapted: STACKED_GROUPS[group].filter((t) => targets.includes(t)), rowOffset, rows };
}

/** int32 [1]: how much of the fed cache buffers is filled (graphs with the fused layers). */
export const PAST_LENGTH_INPUT = 'past_length';

const presentName = (layer: number, kind: 'key' | 'value') => `present.${layer}.${kind}`;

export const TOKEN_ROWS_INPUT = 'token_rows.embed';
export const TOKEN_ROWS_HEAD_INPUT = 'token_rows.head';

export function buildInferenceGraph(cfg: ModelConfig, weights: ModelWeights, opts: InferenceGraphOptions): GraphBuilder {
  const g = new GraphBuilder('attune-inference');
  g.inferenceOnly = true;
  const { kvHeads: KV, headDim: hd, hidden: D } = cfg;
  // The fused layers run one sequence and read cache buffers kept position-major ([fed, 1, KV,
  // hd], so that the filled prefix is a view; see cached-attention.ts) up to a fed length; the
  // other form takes [batch, KV, past, hd].
  const sharedCache = usesFusedLayers(cfg);
  const ids = g.input('input_ids', 'int64', [sharedCache ? 1 : 'batch', 'seq']);
  const cacheDims = sharedCache ? ['fed', 1, KV, hd] : ['batch', KV, 'past', hd];
  const past = Array.from({ length: cfg.layers }, (_, l) => ({
    key: g.input(`past.${l}.key`, 'float32', cacheDims),
    value: g.input(`past.${l}.value`, 'float32', cacheDims),
  }));
  const pastLength = sharedCache ? g.input(PAST_LENGTH_INPUT, 'int32', [1]) : undefined;

  const weight = storedWeightLookup(g, weights, opts.baseStorage ?? 'f32', { compressedCompute: opts.compressedCompute, ggufBlocks: true });

  let lora: LoraWiring | undefined;
  if (opts.lora) {
    const { rank, targets } = opts.lora;
    lora = {
      rank,
      targets,
      factors: (layer: number, target: LoraTarget) => {
        const [out, inp] = projectionShape(cfg, target);
        return {
          a: g.input(loraInputName(layer, target, 'A'), 'float32', [rank, inp]),
          b: g.input(loraInputName(layer, target, 'B'), 'float32', [out, rank]),
        };
      },
      stackedFactors: (layer: number, group: StackedGroup, adapted: readonly LoraTarget[]) => {
        const { rows } = stackedAdapterLayout(cfg, group, adapted);
        return {
          a: g.input(stackedLoraInputName(layer, group, 'A'), 'float32', [adapted.length * rank, cfg.hidden]),
          b: g.input(stackedLoraInputName(layer, group, 'B'), 'float32', [rows, adapted.length * rank]),
        };
      },
    };
  }

  const flatIds = g.reshape(ids, ['tokens'], 'flat_ids');
  let embeddings: Value; // [N, D]
  let head: (x: Value, name: string) => Value;
  if (opts.tokenRows?.length) {
    let embedTable = weight('token_embd.weight');
    let headTable = weight(lmHeadName(cfg));
    // Rows replaced by an adapter's trained tokens: scatter the fed rows over the frozen table.
    const rows = g.constant('int64', [opts.tokenRows.length, 1], opts.tokenRows.map(BigInt), 'token_row_ids');
    const embedRows = g.input(TOKEN_ROWS_INPUT, 'float32', [opts.tokenRows.length, D]);
    const replaced = g.op('ScatterND', [embedTable, rows, embedRows], {}, { name: 'token_embd_tuned', outputs: [{ dtype: 'float32', shape: [cfg.vocab, D] }] })[0];
    if (cfg.tieEmbeddings) headTable = replaced;
    else {
      const headRows = g.input(TOKEN_ROWS_HEAD_INPUT, 'float32', [opts.tokenRows.length, D]);
      headTable = g.op('ScatterND', [headTable, rows, headRows], {}, { name: 'output_tuned', outputs: [{ dtype: 'float32', shape: [cfg.vocab, D] }] })[0];
    }
    embedTable = replaced;
    embeddings = g.gather(embedTable, flatIds, 0, 'token_embd');
    head = (x, name) => g.gemm(x, headTable, { transB: true }, name);
  } else {
    // A compressed table: the rows read from it directly, the head multiplied as stored.
    embeddings = weight.rows?.('token_embd.weight', flatIds, 'token_embd') ?? g.gather(weight('token_embd.weight'), flatIds, 0, 'token_embd');
    head = (x, name) => weight.linear?.(lmHeadName(cfg), x, undefined, name) ?? g.gemm(x, weight(lmHeadName(cfg)), { transB: true }, name);
  }
  const { hidden, present } = buildDecoder(g, cfg, weight, { ids, embeddings, past, pastLength, presentName }, lora);

  let logits: Value;
  if (opts.lastTokenOnly) {
    const h3 = g.reshapeTo(hidden, g.concat([g.shapeOf(ids, 0, 2, 'bt_out'), g.ints([D])], 0, 'shape_btd'), ['batch', 'seq', D], 'hidden_btd');
    const last = g.reshape(g.slice(h3, [-1], [Number.MAX_SAFE_INTEGER], [1], 'hidden_last'), ['batch', D], 'hidden_last_flat'); // [B, D]
    logits = g.reshape(head(last, 'lm_head'), ['batch', 1, cfg.vocab], 'logits_last');
  } else {
    const flat = head(hidden, 'lm_head'); // [N, V]
    logits = g.reshapeTo(flat, g.concat([g.shapeOf(ids, 0, 2, 'bt_logits'), g.ints([cfg.vocab])], 0, 'shape_btv'), ['batch', 'seq', cfg.vocab], 'logits_all');
  }
  g.output(logits, 'logits');
  present.forEach((p, l) => {
    g.output(p.key, presentName(l, 'key'));
    g.output(p.value, presentName(l, 'value'));
  });
  return g;
}
