/**
 * Does a 1.5B model tune in 8 GB? Peak memory of a real `runTuning` (validation included) on a
 * randomly initialised model with Qwen2.5-1.5B's shapes (hidden 1536, 28 layers, 12 heads / 2 KV
 * heads, head_dim 128, FFN 8960, vocabulary 151,936, tied embeddings, q/k/v biases; 1.54B
 * parameters), stored BF16 as the real checkpoint is, for each way of storing the frozen base.
 * One child process per storage and phase: "cold" builds the training graphs (reads the weights),
 * "warm" reuses the cached graphs (as a resumed or repeated run does).
 *
 *   npm run bench:memory [-- --storages int4,int8,f16 --batch 2 --seq 256 --steps 3 --recompute]
 *                        [--shape 1.5b|3b] [--validation separate,shared] [--phases cold,warm] [--val-fraction 0.05]
 *
 * `--validation separate,shared` runs each storage and phase once per way of validating: a
 * forward-only session of its own (a second copy of the frozen base) or the training session.
 *
 * Peak RSS is the child's VmHWM: everything (weights, ORT arenas, activations, JS heap). Children
 * get the environment the app's tuning workers and the CLI's tune get (src/shared/tuning-env.ts).
 */
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { float32ToTensor } from '../src/engine/weights/safetensors.js';
import { emitResult, fmt, intArg, loadLine, log, machineDescription, parseArgs, peakRssMiB, REPO_ROOT, runTsChild, table, WORK_DIR } from './lib.js';
import { paddedTokenizer, randomWeights, STORIES_DIR, weightPlan } from './model.js';
import { tuningProcessEnv } from '../src/shared/tuning-env.js';

/** Model shapes (`--shape`): Qwen2.5-1.5B (default) and Qwen2.5-3B, both with tied embeddings and q/k/v biases. */
const SHAPES = {
  '1.5b': { name: 'Qwen2.5-1.5B', params: '1.54B', hidden: 1536, layers: 28, heads: 12, kvHeads: 2, headDim: 128, ffn: 8960, vocab: 151936 },
  '3b': { name: 'Qwen2.5-3B', params: '3.09B', hidden: 2048, layers: 36, heads: 16, kvHeads: 2, headDim: 128, ffn: 11008, vocab: 151936 },
} as const;
type ShapeName = keyof typeof SHAPES;
const modelDir = (shape: ShapeName) => path.join(WORK_DIR, shape === '1.5b' ? 'qwen2.5-1.5b-random-bf16' : `qwen2.5-${shape}-random-bf16`);

const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;

/** Writes the model once (BF16 safetensors, ~3.1 GB); tensors are generated one at a time. */
async function ensureModel(shape: ShapeName): Promise<string> {
  const MODEL_DIR = modelDir(shape);
  const done = path.join(MODEL_DIR, 'done.json');
  if (existsSync(done)) return MODEL_DIR;
  const m = SHAPES[shape];
  log(`bench model: writing a random ${m.name}-shaped model (BF16) to ${path.relative(REPO_ROOT, MODEL_DIR)} ...`);
  rmSync(MODEL_DIR, { recursive: true, force: true });
  mkdirSync(MODEL_DIR, { recursive: true });
  // Converted to BF16 and written as generated: one tensor is in memory at a time (the 3B file
  // is 6.2 GB).
  await writeBf16Streaming(path.join(MODEL_DIR, 'model.safetensors'), weightPlan({ ...m, qkvBias: true }, m.layers), 7);
  const { tokenizerJson, tokenizerConfig } = paddedTokenizer(m.vocab);
  writeFileSync(path.join(MODEL_DIR, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  writeFileSync(path.join(MODEL_DIR, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2));
  copyFileSync(path.join(STORIES_DIR, 'special_tokens_map.json'), path.join(MODEL_DIR, 'special_tokens_map.json'));
  writeFileSync(path.join(MODEL_DIR, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }) + '\n');
  writeFileSync(
    path.join(MODEL_DIR, 'config.json'),
    JSON.stringify({
      architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_act: 'silu', bos_token_id: 1, eos_token_id: 2,
      hidden_size: m.hidden, intermediate_size: m.ffn, num_hidden_layers: m.layers, num_attention_heads: m.heads,
      num_key_value_heads: m.kvHeads, max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1000000,
      rope_scaling: null, tie_word_embeddings: true, torch_dtype: 'bfloat16', use_cache: true, use_sliding_window: false,
      vocab_size: m.vocab,
    }, null, 2) + '\n',
  );
  writeFileSync(done, JSON.stringify({ written: new Date().toISOString() }) + '\n');
  return MODEL_DIR;
}

/** A BF16 safetensors file written tensor by tensor (header first: every size is known). */
async function writeBf16Streaming(file: string, plan: ReturnType<typeof weightPlan>, seed: number): Promise<void> {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of plan) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 2;
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = openSync(file, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json, 'utf8'));
    for (const [, t] of randomWeights(plan, seed)) writeSync(fd, float32ToTensor(t.data, t.shape, 'BF16').bytes);
  } finally {
    closeSync(fd);
  }
}

interface ChildResult {
  storage: string;
  phase: string;
  peakMiB: number;
  /** Peak before the first step: loading, graph building, ORT sessions. */
  startMiB: number;
  stepSeconds: number[];
  /** Tokens in each step's batch (padding included): the examples set the length, up to --seq. */
  stepTokens: number[];
  valLoss: number | null;
  device: string;
  /** Peak RSS right after the (first) validation. */
  afterValMiB: number;
  validationSeconds: number;
}

/** Child: one short tuning run; prints peak RSS and step times. */
async function child(args: Map<string, string | true>): Promise<void> {
  const { runTuning } = await import('../src/engine/index.js');
  const storage = String(args.get('storage'));
  const steps = intArg(args, 'steps', 3);
  const stepSeconds: number[] = [];
  let last = performance.now();
  let valLoss: number | null = null;
  let device = '';
  let startMiB = 0;
  let afterValMiB = 0;
  let validationSeconds = 0;
  const stepTokens: number[] = [];
  const out = mkdtempSync(path.join(os.tmpdir(), 'attune-mem-run-'));
  rmSync(out, { recursive: true });
  await runTuning(
    {
      model: String(args.get('model')),
      data: path.join(REPO_ROOT, 'resources', 'samples', 'customer-service.jsonl'),
      out,
      device: 'cpu',
      baseStorage: storage as never,
      batchSize: intArg(args, 'batch', 2),
      maxLength: intArg(args, 'seq', 256),
      maxSteps: steps,
      evalEvery: steps,
      valFraction: args.has('val-fraction') ? Number(args.get('val-fraction')) : 0.05,
      trainTokens: args.get('train-tokens') === 'none' ? 'none' : 'auto',
      recomputeActivations: args.has('recompute'),
      rank: 16,
      targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'],
    },
    {
      validateInTrainingSession: args.get('validation') === 'shared' ? true : args.get('validation') === 'separate' ? false : undefined,
      onEvent: (e) => {
        if (e.type === 'start') {
          device = e.device;
          last = performance.now();
          startMiB = peakRssMiB();
          log(`sessions built: peak so far ${fmt(startMiB / 1024, 2)} GiB, now ${fmt(rssMiB() / 1024, 2)} GiB`);
        }
        if (e.type === 'step') {
          const now = performance.now();
          stepSeconds.push((now - last) / 1000);
          last = now;
          stepTokens.push(e.tokens);
          log(`step ${e.step}: ${e.tokens} tokens, peak so far ${fmt(peakRssMiB() / 1024, 2)} GiB, now ${fmt(rssMiB() / 1024, 2)} GiB`);
        }
        if (e.type === 'eval') {
          valLoss = e.valLoss;
          validationSeconds = (performance.now() - last) / 1000;
          afterValMiB ||= peakRssMiB();
          log(`validation: ${validationSeconds.toFixed(1)} s, peak so far ${fmt(peakRssMiB() / 1024, 2)} GiB`);
        }
      },
    },
  );
  rmSync(out, { recursive: true, force: true });
  emitResult({ storage, phase: String(args.get('phase')), peakMiB: peakRssMiB(), startMiB, stepSeconds, stepTokens, valLoss, device, afterValMiB, validationSeconds } satisfies ChildResult);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.has('child')) return child(args);
  const storages = String(args.get('storages') ?? 'int4,int8,f16').split(',');
  const shape = String(args.get('shape') ?? '1.5b') as ShapeName;
  if (!(shape in SHAPES)) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')}, got ${shape}`);
  // --validation separate|shared|auto (or several, comma-separated): where validation runs.
  const validations = String(args.get('validation') ?? 'auto').split(',');
  const phases = String(args.get('phases') ?? 'cold,warm').split(',');
  log(`bench:memory  ${machineDescription()}`);
  const model = await ensureModel(shape);
  if (args.has('write-only')) return;
  const rows: (string | number)[][] = [];
  for (const storage of storages) {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'attune-mem-cache-'));
    try {
      for (const validation of validations) {
        for (const phase of phases) {
          const passthrough = [...['batch', 'seq', 'steps', 'train-tokens', 'val-fraction'].flatMap((k) => (args.has(k) ? [`--${k}`, String(args.get(k))] : [])), ...(args.has('recompute') ? ['--recompute'] : [])];
          const { result: r, seconds } = await runTsChild<ChildResult>('memory.ts', ['--child', '--model', model, '--storage', storage, '--phase', phase, '--validation', validation, ...passthrough], { ATTUNE_CACHE_DIR: cache, ...tuningProcessEnv(args.has('recompute')) }, `memory ${storage} ${phase}`);
          log(`${storage} ${phase} (validation ${validation}): peak ${fmt(r.peakMiB / 1024, 2)} GiB, steps ${r.stepSeconds.map((s) => s.toFixed(1)).join(', ')} s, ${seconds.toFixed(0)} s in all, ${loadLine()}`);
          rows.push([storage, phase, validation, fmt(r.startMiB / 1024, 2), fmt(r.peakMiB / 1024, 2), r.stepSeconds.length ? fmt(Math.min(...r.stepSeconds), 1) : '-', fmt(r.validationSeconds, 1), r.stepTokens.join('/'), fmt(seconds, 0), r.valLoss === null ? '-' : fmt(r.valLoss, 4)]);
        }
      }
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }
  const m = SHAPES[shape];
  process.stdout.write(`\nMachine: ${machineDescription()}\nModel: random ${m.name} shapes (${m.params} parameters, BF16 file), LoRA r16 on all 7 projections, CPU${args.has('recompute') ? ', activations recomputed' : ''}\n\n`);
  process.stdout.write(table(['base storage', 'graphs', 'validation', 'peak before step 1 (GiB)', 'peak RSS (GiB)', 'best step (s)', 'validation (s)', 'tokens per step', 'whole run (s)', 'val loss'], rows) + '\n');
}

await main();
