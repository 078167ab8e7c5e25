/**
 * The training-step graph: forward with LoRA on a frozen base -> masked cross-entropy on the
 * response tokens -> reverse-mode backward (our autodiff) -> gradient accumulation ->
 * global-norm clipping -> AdamW. One ORT session runs it for every micro-batch.
 *
 * Inputs
 *   input_ids [B, T] int64, targets [B, T] int64 (the next token), loss_weight [B, T] float
 *   (1 where the target is a response token, else 0), loss_scale [] (1 / response tokens in the
 *   whole optimizer step), step [] (1-based), lr [], apply [] (1 on the last micro-batch of a step),
 *   and four flat vectors over every trainable tensor (layout: `paramLayout`): params, adam.m,
 *   adam.v, acc (gradient accumulated so far).
 * Outputs
 *   loss_sum [] (summed CE of this micro-batch), tokens [] (response tokens it scored),
 *   grad_norm [] (before clipping, of the step's
 *   accumulated gradient; meaningful when apply = 1), and new.params, new.adam.m, new.adam.v,
 *   new.acc (unchanged/zeroed as `apply` says).
 *
 * The loss is a head (train/losses.ts) over the log-probabilities of the target tokens, which the
 * `tokenLogProbs` composite computes in token chunks: each chunk's [C, V] logits and softmax are
 * formed and dropped before the next, so a 49k-152k vocabulary never materialises
 * [tokens x vocab] at once. One backward pass from the head's objective reaches the LoRA factors
 * and the trained token rows (embedding and head) through the composites' fused gradients.
 *
 * Preference methods (`method` dpo|orpo, train/losses.ts `preferenceLossHead`) use the same
 * log-probabilities with rows as interleaved pairs (chosen, rejected, ...), and add the inputs
 * pair_scale [] (1 / pairs in the optimizer step) and, for DPO, ref_logps [B]; loss_scale is then
 * 1 / chosen response tokens in the step (ORPO's NLL term). Extra outputs: seq_logps [B] and
 * rewards [B]; loss_sum is then this micro-batch's share of the step's mean loss.
 */
import { GraphBuilder, type GraphDevice } from '../onnx/builder.js';
import type { Value } from '../onnx/graph.js';
import { buildBackward } from '../onnx/autodiff/backward.js';
import { adamW, clipByGlobalNorm } from '../onnx/autodiff/optimizer.js';
import type { ModelConfig } from '../models/config.js';
import { buildDecoder, lmHeadName } from '../models/decoder.js';
import { projectionShape, TARGET_MODULE, type LoraTarget } from '../models/lora-targets.js';
import type { ModelWeights } from '../models/weights.js';
import { storedWeightLookup, type BaseStorage } from '../models/base-storage.js';
import { lossChunkDim, tokenLogProbs } from '../onnx/autodiff/rules/loss.js';
import { crossEntropyHead, preferenceLossHead, type LossHead } from './losses.js';
import { DEFAULT_PREFERENCE_BETA, type TrainMethod } from './losses/preference.js';

export interface StepGraphOptions {
  rank: number;
  alpha: number;
  targets: readonly LoraTarget[];
  /** Largest number of tokens in one micro-batch (batch x length), to size loss chunks. */
  maxTokensPerMicroBatch: number;
  /** Token ids whose embedding (and untied head) rows are trained as well. */
  trainTokenIds: number[];
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  maxGradNorm: number;
  /** How the frozen base is stored: f32, or f16/int8/int4 to save memory (default f32). */
  baseStorage?: BaseStorage;
  /**
   * Multiply by an int8/int4 base without expanding it (integer kernels; default true). False
   * expands every matrix to F32 where used: exact, slower, and the reference in tests.
   */
  compressedCompute?: boolean;
  /** An int4 base in training: multiplied as an int8 copy of its values (default, 2 bytes per weight) or as its blocks with an F32 expansion for the input gradient (base-storage.ts). */
  int4InputGradient?: 'int8' | 'expand';
  /** PEFT's lora_dropout on the adapter inputs (0 = off). */
  loraDropout?: number;
  /** Seed of the dropout masks (with the step number, fed as `dropout_step`, it fixes every mask). */
  seed?: number;
  /**
   * Merge each adapter into its weight for the step (W' = W + s B A, one GEMM each way, fused
   * gradient). Off by default: on this CPU build ORT prepacks constant weights once, and a
   * per-step merged weight loses that (measured in bench/), so the separate path is faster.
   */
  mergeLora?: boolean;
  /** Number of loss chunks; by default sized so one chunk's logits stay under ~32 MB. */
  lossChunks?: number;
  /** Recompute each layer's activations in backward (less memory, about one more forward pass). */
  recomputeActivations?: boolean;
  /** Forward and loss only (validation): outputs loss_sum, no gradients or updates. */
  evalOnly?: boolean;
  /** The execution provider the graph will run on (ops it lacks are spelled with others). */
  device?: GraphDevice;
  /** The loss head: instruction tuning (default), or a preference method over interleaved pairs (losses/preference.ts). */
  method?: TrainMethod;
  /** DPO's beta, or ORPO's lambda (default 0.1). */
  beta?: number;
  /** DPO: weight of the chosen answers' NLL added to the loss (TRL's rpo_alpha; absent = 0). */
  rpoAlpha?: number;
}

export interface TrainableTensor {
  name: string;
  shape: number[];
}

export interface ParamLayout {
  offsets: number[];
  total: number;
  /** Elements before the first token-row tensor (token rows come last). */
  loraTotal: number;
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Where each trainable tensor sits in the flat vectors the step graph reads and writes. */
export function paramLayout(specs: TrainableTensor[]): ParamLayout {
  const offsets: number[] = [];
  let total = 0;
  let loraTotal = 0;
  for (const s of specs) {
    offsets.push(total);
    total += numel(s.shape);
    if (!s.name.startsWith('tokens.')) loraTotal = total;
  }
  return { offsets, total, loraTotal };
}

/** Named tensors -> one flat vector in layout order. */
export function packTensors(specs: TrainableTensor[], tensors: Map<string, Float32Array>, prefix = ''): Float32Array {
  const layout = paramLayout(specs);
  const flat = new Float32Array(layout.total);
  specs.forEach((s, i) => flat.set(tensors.get(prefix + s.name)!, layout.offsets[i]));
  return flat;
}

/** One flat vector -> named tensors (copies, so the flat buffer can be reused). */
export function unpackTensors(specs: TrainableTensor[], flat: Float32Array, prefix = ''): Map<string, Float32Array> {
  const layout = paramLayout(specs);
  return new Map(specs.map((s, i) => [prefix + s.name, flat.slice(layout.offsets[i], layout.offsets[i] + numel(s.shape))]));
}

/** Names of the trainable tensors, in the order the graph and checkpoints use. */
export function trainableTensors(cfg: ModelConfig, opts: Pick<StepGraphOptions, 'rank' | 'targets' | 'trainTokenIds'>): TrainableTensor[] {
  const list: TrainableTensor[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    for (const t of opts.targets) {
      const [out, inp] = projectionShape(cfg, t);
      list.push({ name: loraParamName(l, t, 'A'), shape: [opts.rank, inp] });
      list.push({ name: loraParamName(l, t, 'B'), shape: [out, opts.rank] });
    }
  }
  if (opts.trainTokenIds.length) {
    list.push({ name: TOKEN_EMBED_PARAM, shape: [opts.trainTokenIds.length, cfg.hidden] });
    if (!cfg.tieEmbeddings) list.push({ name: TOKEN_HEAD_PARAM, shape: [opts.trainTokenIds.length, cfg.hidden] });
  }
  return list;
}

export const loraParamName = (layer: number, t: LoraTarget, f: 'A' | 'B') => `lora.blk.${layer}.${TARGET_MODULE[t]}.${f}`;
/** Trained rows of the embedding (absolute values), and of the untied LM head. */
export const TOKEN_EMBED_PARAM = 'tokens.embed';
export const TOKEN_HEAD_PARAM = 'tokens.head';

/** Chunk count so that one chunk's logits stay under ~32 MB. */
export function lossChunks(cfg: ModelConfig, maxTokens: number): number {
  const bytes = maxTokens * cfg.vocab * 4;
  return Math.max(1, Math.min(64, Math.ceil(bytes / (32 * 1024 * 1024))));
}

export function buildTrainStepGraph(cfg: ModelConfig, weights: ModelWeights, opts: StepGraphOptions): GraphBuilder {
  const g = new GraphBuilder('attune-train-step');
  g.unshapedDynamicInputs = true; // a far quicker session start (graph.ts)
  const chunks = opts.lossChunks ?? lossChunks(cfg, opts.maxTokensPerMicroBatch);
  g.declaredValueDims = ['batch', 'seq', 'tokens', ...Array.from({ length: chunks }, (_, k) => lossChunkDim(k))]; // and quicker still (graph.ts)
  g.device = opts.device ?? 'cpu';
  const ids = g.input('input_ids', 'int64', ['batch', 'seq']);
  const targets = g.input('targets', 'int64', ['batch', 'seq']);
  const lossWeight = g.input('loss_weight', 'float32', ['batch', 'seq']);
  const lossScale = g.input('loss_scale', 'float32', []);
  const step = g.input('step', 'float32', []);
  const lr = g.input('lr', 'float32', []);
  const apply = g.input('apply', 'float32', []);

  // A GGUF base's Q8_0/Q4_0/Q4_K/Q6_K matrices are tuned on as the file stores them unless another
  // storage was chosen (f16/int8/int4 are then made from their F32 values, as for any base).
  const storage = opts.baseStorage ?? 'f32';
  const weight = storedWeightLookup(g, weights, storage, { compressedCompute: opts.compressedCompute, training: !opts.evalOnly, int4InputGradient: opts.int4InputGradient, ggufBlocks: storage === 'f32' });

  const specs = trainableTensors(cfg, opts);
  const layout = paramLayout(specs);
  // All trainable tensors travel as one flat vector; each is a slice of it, reshaped.
  const flatParams = g.input('params', 'float32', [layout.total]);
  const params = new Map(
    specs.map((s, i) => [s.name, g.reshape(g.slice(flatParams, [layout.offsets[i]], [layout.offsets[i] + numel(s.shape)], [0], `param_slice.${s.name}`), s.shape, s.name)]),
  );

  // A compressed table without trained rows: rows read from it directly, not from an expansion.
  const flatIds = g.reshape(ids, ['tokens'], 'flat_ids');
  const compressedTable = !opts.trainTokenIds.length;
  const compressedEmbeddings = compressedTable ? weight.rows?.('token_embd.weight', flatIds, 'token_embd') : undefined;
  // Tables with the trained token rows written over the frozen ones.
  let embedTable = compressedEmbeddings ? undefined : weight('token_embd.weight');
  let headTable = weight(lmHeadName(cfg));
  if (opts.trainTokenIds.length) {
    const rows = g.constant('int64', [opts.trainTokenIds.length, 1], opts.trainTokenIds.map(BigInt), 'trained_token_rows');
    embedTable = scatterRows(g, embedTable!, rows, params.get(TOKEN_EMBED_PARAM)!, 'token_embd_trained');
    headTable = cfg.tieEmbeddings ? embedTable : scatterRows(g, headTable, rows, params.get(TOKEN_HEAD_PARAM)!, 'output_trained');
  }
  const embeddings = compressedEmbeddings ?? g.gather(embedTable!, flatIds, 0, 'token_embd');
  const { hidden } = buildDecoder(g, cfg, weight, { ids, embeddings }, {
    rank: opts.rank,
    targets: opts.targets,
    scale: g.scalar(opts.alpha / opts.rank),
    mergedScale: opts.mergeLora ? opts.alpha / opts.rank : undefined,
    dropout: opts.loraDropout && !opts.evalOnly ? dropoutMasks(g, opts.loraDropout, opts.seed ?? 0) : undefined, // none in validation
    factors: (l, t) => ({ a: params.get(loraParamName(l, t, 'A'))!, b: params.get(loraParamName(l, t, 'B'))! }),
    recompute: opts.recomputeActivations && !opts.evalOnly,
  });

  // ---- the loss: a head over the target tokens' log-probabilities (chunked over the vocabulary)
  const flatTargets = g.reshape(targets, ['tokens'], 'flat_targets');
  const flatWeight = g.reshape(lossWeight, ['tokens'], 'flat_weight');
  const headRows = !opts.trainTokenIds.length ? undefined : params.get(cfg.tieEmbeddings ? TOKEN_EMBED_PARAM : TOKEN_HEAD_PARAM)!;
  const logProbs = tokenLogProbs(g, hidden, headTable, flatTargets, {
    chunks,
    trainedRows: headRows && { ids: opts.trainTokenIds, values: headRows },
    // A compressed head: the logits by integer kernels (its gradient still reads the expansion).
    logits: compressedTable && weight.logits ? (h, name) => weight.logits!(lmHeadName(cfg), h, name) ?? g.gemm(h, headTable, { transB: true }, name) : undefined,
  });
  // The head chosen by the method: SFT's cross-entropy, or a preference loss over interleaved
  // pairs (DPO, ORPO; extra inputs `pair_scale` and, for DPO, `ref_logps`).
  const method = opts.method ?? 'sft';
  let head: LossHead;
  if (method === 'sft') head = crossEntropyHead(g, logProbs, flatWeight, lossScale);
  else {
    const pref = preferenceLossHead(g, method, opts.beta ?? DEFAULT_PREFERENCE_BETA[method], logProbs, lossWeight, lossScale, opts.rpoAlpha);
    g.output(pref.seqLogps, 'seq_logps');
    g.output(pref.rewards, 'rewards');
    head = pref;
  }
  const { lossSum, objective } = head;
  if (opts.evalOnly) {
    g.output(lossSum, 'loss_sum');
    return pruneToOutputs(g);
  }
  const wrt = specs.map((s) => params.get(s.name)!);
  const grads = buildBackward(g, objective, wrt, { unconnected: 'zeros' });

  // ---- accumulation, clipping, AdamW (applied only when apply = 1), on one flat vector: a few
  // nodes instead of ~30 per tensor (ORT's session build time grows with the node count).
  // Clipping and AdamW are autodiff/optimizer.ts's, checked against torch's step.
  const flatGrad = g.concat(specs.map((s) => g.reshape(grads.get(s.name)!, [numel(s.shape)], `flat_grad.${s.name}`)), 0, 'flat_grad');
  const total = layout.total;
  const acc = g.add(g.input('acc', 'float32', [total]), flatGrad, 'acc_sum');
  const { clipped: [grad], norm: gradNorm } = clipByGlobalNorm(g, [acc], opts.maxGradNorm);
  // Weight decay never touches token rows, which come last in the layout: the LoRA prefix only.
  const m = g.input('adam.m', 'float32', [total]);
  const v = g.input('adam.v', 'float32', [total]);
  const { beta1, beta2, eps, weightDecay } = opts;
  const next = adamW(g, [flatParams], [grad], { m: [m], v: [v] }, step, lr, { beta1, beta2, eps, weightDecay, decayedPrefix: [layout.loraTotal] });
  // apply = 0 leaves everything but the accumulator untouched.
  const keep = g.sub(g.scalar(1), apply, 'keep');
  const blend = (after: Value, before: Value, name: string) => g.add(g.mul(after, apply), g.mul(before, keep), name);
  g.output(blend(next.newParams[0], flatParams, 'p_out'), 'new.params');
  g.output(blend(next.newM[0], m, 'm_out'), 'new.adam.m');
  g.output(blend(next.newV[0], v, 'v_out'), 'new.adam.v');
  g.output(g.mul(acc, keep, 'acc_out'), 'new.acc');
  g.output(lossSum, 'loss_sum');
  g.output(g.reduceSum(lossWeight, [0, 1], false, 'token_count'), 'tokens');
  g.output(gradNorm, 'grad_norm');
  return g;
}

/**
 * Dropout masks that are a pure function of (seed, step, layer, target, element), so a resumed
 * run draws exactly the masks the uninterrupted run would have (ORT's random ops keep hidden
 * state that a restart would reset), on any provider: an integer hash in wrapping int32
 * arithmetic, which CPU and GPU providers compute bit for bit alike (a float hash such as
 * frac(sin(x) * 43758) does not: GPU sine is coarse for large x). Kept with probability 1 - p;
 * a negative `dropout_step` keeps everything (validation).
 */
export function dropoutMasks(g: GraphBuilder, p: number, seed: number) {
  const step = g.input('dropout_step', 'float32', []);
  const i32 = (v: number) => g.scalar(v | 0, 'int32');
  const int32op = (op: string, a: Value, b: Value, name: string) => g.op(op, [a, b], {}, { name })[0];
  // x ^ (x >>> bits), without a logical shift (ONNX's BitShift is unsigned-only): the masked
  // high bits divided down; bit 31 is left out of the fold, which costs the mix nothing that matters.
  const foldHigh = (x: Value, bits: number, name: string) =>
    int32op('BitwiseXor', x, int32op('Div', int32op('BitwiseAnd', x, i32(0x7fffffff & ~((1 << bits) - 1)), `${name}_hi`), i32(1 << bits), `${name}_down`), name);
  const stepMix = g.mul(g.cast(step, 'int32', 'drop_step_i'), i32(0x9e3779b1), 'drop_step_mix');
  // A negative dropout_step turns dropout off (validation through the training session: every
  // element kept, gain 1). Scalar Where nodes: in training the threshold and gain are the very
  // float32 constants they always were, so the masks and the products are bit for bit the same.
  const off = g.less(step, g.scalar(0), 'drop_off');
  const threshold = g.where(off, g.scalar(-1), g.scalar(Math.ceil(p * 2 ** 24) - 0.5), 'drop_threshold');
  const gain = g.where(off, g.scalar(1), g.scalar(1 / (1 - p)), 'drop_gain');
  const grids = new Map<number, Value>();
  return (x: Value, layer: number, target: LoraTarget): Value => {
    const width = x.shape![1] as number;
    let grid = grids.get(width);
    if (!grid) {
      // Element index times an odd constant, as a [N, width] grid shared by same-width inputs.
      const rows = g.shapeOf(x, 0, 1, `drop_rows_${width}`);
      const n = g.squeeze(g.mul(rows, g.ints([width]), `drop_n_${width}`), [0], `drop_n_scalar_${width}`);
      const idx = g.cast(g.range(g.scalar(0, 'int64'), n, g.scalar(1, 'int64'), 'drop_len', `drop_idx_${width}`), 'int32', `drop_idx_i_${width}`);
      const spread = g.mul(idx, i32(0x27d4eb2d), `drop_spread_${width}`);
      grid = g.reshapeTo(spread, g.concat([rows, g.ints([width])], 0, `drop_shape_${width}`), x.shape!, `drop_grid_${width}`);
      grids.set(width, grid);
    }
    const name = `drop_${layer}_${target}`;
    const key = Math.imul(seed + 1, 0x85ebca6b) ^ Math.imul(layer * 7 + LORA_TARGET_INDEX[target] + 1, 0xc2b2ae35);
    let h = g.add(grid, g.add(stepMix, i32(key), `${name}_key`), `${name}_h0`);
    // lowbias32's rounds (Chris Wellons' hash prospector): multiply, fold the high bits down.
    h = foldHigh(h, 16, `${name}_f1`);
    h = g.mul(h, i32(0x7feb352d), `${name}_m1`);
    h = foldHigh(h, 15, `${name}_f2`);
    h = g.mul(h, i32(0x846ca68b), `${name}_m2`);
    h = foldHigh(h, 16, `${name}_f3`);
    // The low 24 bits as an exact float in [0, 2^24); keep where it is at least p * 2^24.
    const u = g.cast(int32op('BitwiseAnd', h, i32(0xffffff), `${name}_u24`), 'float32', `${name}_u`);
    const keep = g.cast(g.less(threshold, u, `${name}_keep`), 'float32', `${name}_keepf`);
    return g.mul(x, g.mul(keep, gain, `${name}_mask`), `${name}_x`);
  };
}

const LORA_TARGET_INDEX: Record<LoraTarget, number> = { q: 0, k: 1, v: 2, o: 3, gate: 4, up: 5, down: 6 };

/** Keeps only the nodes the outputs need (the eval graph drops the gradient chunk work). */
function pruneToOutputs(g: GraphBuilder): GraphBuilder {
  const needed = new Set(g.outputs.map((o) => o.name));
  const kept = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (!n.outputs.some((o) => needed.has(o))) continue;
    kept.push(n);
    for (const x of n.inputs) if (x) needed.add(x);
  }
  g.nodes.splice(0, g.nodes.length, ...kept.reverse());
  for (const name of [...g.initializers.keys()]) if (!needed.has(name)) g.initializers.delete(name);
  const inputs = g.inputs.filter((x) => needed.has(x.name));
  g.inputs.splice(0, g.inputs.length, ...inputs);
  return g;
}

function scatterRows(g: GraphBuilder, table: Value, rows: Value, values: Value, name: string): Value {
  return g.op('ScatterND', [table, rows, values], {}, { name, outputs: [{ dtype: 'float32', shape: table.shape }] })[0];
}
