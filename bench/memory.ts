/**
 * Does a 1.5B model tune in 8 GB? Peak memory of a real `runTuning` (validation included) on a
 * randomly initialised model with Qwen2.5-1.5B's shapes (hidden 1536, 28 layers, 12 heads / 2 KV
 * heads, head_dim 128, FFN 8960, vocabulary 151,936, tied embeddings, q/k/v biases; 1.54B
 * parameters), stored BF16 as the real checkpoint is, for each way of storing the frozen base.
 * One child process per storage and phase: "cold" builds the training graphs (reads the weights),
 * "warm" reuses the cached graphs (as a resumed or repeated run does).
 *
 *   npm run bench:memory [-- --storages int4,int8,f16 --batch 2 --seq 256 --steps 3 --recompute]
 *
 * Peak RSS is the child's VmHWM: everything (weights, ORT arenas, activations, JS heap). Children
 * get the environment the app's tuning workers and the CLI's tune get (src/shared/tuning-env.ts).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { float32ToTensor, writeSafetensors, type SafetensorsTensor } from '../src/engine/weights/safetensors.js';
import { emitResult, fmt, intArg, log, machineDescription, parseArgs, peakRssMiB, REPO_ROOT, runTsChild, table, WORK_DIR } from './lib.js';
import { paddedTokenizer, randomWeights, STORIES_DIR, weightPlan } from './model.js';
import { tuningProcessEnv } from '../src/shared/tuning-env.js';

const QWEN25_1P5B = { hidden: 1536, layers: 28, heads: 12, kvHeads: 2, headDim: 128, ffn: 8960, vocab: 151936 } as const;
const MODEL_DIR = path.join(WORK_DIR, 'qwen2.5-1.5b-random-bf16');

const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024;

/** Writes the model once (BF16 safetensors, ~3.1 GB); tensors are generated one at a time. */
async function ensureModel(): Promise<string> {
  const done = path.join(MODEL_DIR, 'done.json');
  if (existsSync(done)) return MODEL_DIR;
  const m = QWEN25_1P5B;
  log(`bench model: writing a random Qwen2.5-1.5B-shaped model (BF16) to ${path.relative(REPO_ROOT, MODEL_DIR)} ...`);
  rmSync(MODEL_DIR, { recursive: true, force: true });
  mkdirSync(MODEL_DIR, { recursive: true });
  // Converted to BF16 as generated: the F32 copy of only one tensor is held at a time.
  const st = new Map<string, SafetensorsTensor>();
  for (const [name, t] of randomWeights(weightPlan({ ...m, qkvBias: true }, m.layers), 7)) st.set(name, float32ToTensor(t.data, t.shape, 'BF16'));
  await writeSafetensors(path.join(MODEL_DIR, 'model.safetensors'), st);
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
      valFraction: 0.05,
      trainTokens: args.get('train-tokens') === 'none' ? 'none' : 'auto',
      recomputeActivations: args.has('recompute'),
      rank: 16,
      targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'],
    },
    {
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
        if (e.type === 'eval') valLoss = e.valLoss;
      },
    },
  );
  rmSync(out, { recursive: true, force: true });
  emitResult({ storage, phase: String(args.get('phase')), peakMiB: peakRssMiB(), startMiB, stepSeconds, stepTokens, valLoss, device } satisfies ChildResult);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.has('child')) return child(args);
  const storages = String(args.get('storages') ?? 'int4,int8,f16').split(',');
  const model = await ensureModel();
  const rows: (string | number)[][] = [];
  for (const storage of storages) {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'attune-mem-cache-'));
    try {
      for (const phase of ['cold', 'warm']) {
        const passthrough = [...['batch', 'seq', 'steps', 'train-tokens'].flatMap((k) => (args.has(k) ? [`--${k}`, String(args.get(k))] : [])), ...(args.has('recompute') ? ['--recompute'] : [])];
        const { result: r, seconds } = await runTsChild<ChildResult>('memory.ts', ['--child', '--model', model, '--storage', storage, '--phase', phase, ...passthrough], { ATTUNE_CACHE_DIR: cache, ...tuningProcessEnv(args.has('recompute')) }, `memory ${storage} ${phase}`);
        log(`${storage} ${phase}: peak ${fmt(r.peakMiB / 1024, 2)} GiB, steps ${r.stepSeconds.map((s) => s.toFixed(1)).join(', ')} s, ${seconds.toFixed(0)} s in all`);
        rows.push([storage, phase, fmt(r.startMiB / 1024, 2), fmt(r.peakMiB / 1024, 2), r.stepSeconds.length ? fmt(Math.min(...r.stepSeconds), 1) : '-', r.stepTokens.join('/'), fmt(seconds, 0), r.valLoss === null ? '-' : fmt(r.valLoss, 3)]);
      }
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }
  process.stdout.write(`\nMachine: ${machineDescription()}\nModel: random Qwen2.5-1.5B shapes (1.54B parameters, BF16 file), LoRA r16 on all 7 projections, CPU${args.has('recompute') ? ', activations recomputed' : ''}\n\n`);
  process.stdout.write(table(['base storage', 'graphs', 'peak before step 1 (GiB)', 'peak RSS (GiB)', 'best step (s)', 'tokens per step', 'whole run (s)', 'val loss'], rows) + '\n');
}

await main();
