/**
 * Proof that tuning works on a real base model (stories260K, a TinyStories model that has never
 * seen an instruction): a CPU run of a few seconds lowers validation loss clearly, and the tuned
 * model answers held-out instructions (names never seen in training) in the trained style and
 * ends its answers with </s>, where the base model does neither. With --train-tokens none the
 * answers do not end: the </s> row was never trained (see the model's README), which is why
 * Attune trains such rows by default.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatSession } from '../../../src/engine/generate/chat-session.js';
import { loadModel } from '../../../src/engine/models/load.js';
import { runTuning, type TuneResult } from '../../../src/engine/train/tune.js';
import { STORIES260K_HF_DIR } from '../../helpers/tiny-model.js';
import { HELD_OUT_NAMES, instructionFor, THINGS, writeInstructionJsonl } from '../../helpers/instruction-data.js';
import { allLogitsSession, forwardLogits, maxAbsDiff } from '../../helpers/engine-run.js';
import { adapterFeeds } from '../../../src/engine/generate/generator.js';
import { loadAdapter } from '../../../src/engine/adapter/adapter.js';
import { baseRows } from '../../../src/engine/generate/chat-session.js';
import { buildInferenceGraph } from '../../../src/engine/models/inference-graph.js';
import { serializeGraph } from '../../../src/engine/onnx/serialize.js';
import { createSession } from '../../../src/engine/runtime/session.js';
import { reviewAdapter } from '../../../src/engine/eval/review.js';
import { mergeAdapterWeights } from '../../../src/engine/export/source.js';
import { ModelWeights } from '../../../src/engine/models/weights.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'attune-real-'));
const dataFile = path.join(tmp, 'train.jsonl');
const settings = { model: STORIES260K_HF_DIR, data: dataFile, epochs: 4, learningRate: 3e-3, rank: 8, batchSize: 8, evalEvery: 8, seed: 1, threads: 2 };
let withTokens: TuneResult;
let withoutTokens: TuneResult;
const firstVal: Record<string, number> = {};

beforeAll(async () => {
  process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
  writeInstructionJsonl(dataFile);
  withTokens = await runTuning({ ...settings, out: path.join(tmp, 'auto') }, { onEvent: (e) => { if (e.type === 'eval' && firstVal.auto === undefined) firstVal.auto = e.valLoss; } });
  withoutTokens = await runTuning({ ...settings, out: path.join(tmp, 'none'), trainTokens: 'none' });
}, 240_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const heldOut = HELD_OUT_NAMES.flatMap((name) => THINGS.slice(0, 3).map((thing) => ({ name, thing, prompt: instructionFor(name, thing) })));

async function answers(adapterDir?: string) {
  const s = await ChatSession.open({ modelPath: STORIES260K_HF_DIR, adapterDir, device: 'cpu' });
  const out = [];
  for (const h of heldOut) out.push({ ...h, ...(await s.generate([{ role: 'user', content: h.prompt }], { maxTokens: 48 })) });
  await s.close();
  return out;
}

const followsStyle = (text: string, thing: string) => text.startsWith('Dear ') && text.includes(`the ${thing} is here. Have a nice day!`);

describe('instruction tuning stories260K', () => {
  it('lowers validation loss clearly and trains the </s> row by default', () => {
    expect(withTokens.trainTokens).toEqual([2]);
    expect(withTokens.bestValLoss!).toBeLessThan(0.1);
    expect(firstVal.auto).toBeGreaterThan(withTokens.bestValLoss! * 3);
  });

  it('the tuned model follows the trained style and ends its answers on held-out prompts; the base model does not', async () => {
    const tuned = await answers(withTokens.adapterDir);
    const base = await answers();
    const styled = tuned.filter((a) => followsStyle(a.text, a.thing)).length;
    const ended = tuned.filter((a) => a.stoppedBy === 'stop-token').length;
    expect(styled / tuned.length).toBeGreaterThanOrEqual(0.9);
    expect(ended / tuned.length).toBeGreaterThanOrEqual(0.9);
    expect(base.filter((a) => followsStyle(a.text, a.thing)).length).toBe(0);
  }, 120_000);

  it('with --train-tokens none the style is learned but the answers do not end', async () => {
    const tuned = await answers(withoutTokens.adapterDir);
    expect(tuned.filter((a) => a.text.startsWith('Dear ')).length / tuned.length).toBeGreaterThanOrEqual(0.9);
    expect(tuned.filter((a) => a.stoppedBy === 'stop-token').length / tuned.length).toBeLessThan(0.2);
  }, 120_000);

  it('attune eval: the held-out review scores the tuned model above the base model', async () => {
    const r = await reviewAdapter({ modelPath: STORIES260K_HF_DIR, adapterDir: withTokens.adapterDir, n: 4, maxTokens: 48 });
    expect(r.heldOutExamples).toBeGreaterThan(10);
    expect(r.samples).toHaveLength(4);
    expect(r.tuned.loss).toBeLessThan(r.base.loss / 10);
    expect(r.tuned.perplexity).toBeCloseTo(Math.exp(r.tuned.loss), 6);
    expect(r.average.tuned).toBeGreaterThan(0.9);
    expect(r.average.base).toBeLessThan(0.3);
    for (const s of r.samples) expect(s.expected).toMatch(/^Dear .*Have a nice day!$/);
  }, 60_000);

  it('the saved adapter (with trained token rows) loads back with the same logits as training left them', async () => {
    const model = await loadModel(STORIES260K_HF_DIR);
    const adapter = await loadAdapter(withTokens.adapterDir, model.config, (ids) => baseRows(model, ids));
    expect(adapter.tokenRows?.ids).toEqual([2]);
    // Logits through the adapter slots vs logits of a model whose weights have the adapter merged in by hand.
    const g = buildInferenceGraph(model.config, model.weights, { lastTokenOnly: false, lora: { rank: adapter.rank, targets: adapter.targets }, tokenRows: [2] });
    const session = await createSession(serializeGraph(g).model, { threads: 1 });
    const ids = model.tokenizer.encodeChat([{ role: 'user', content: heldOut[0].prompt }, { role: 'assistant', content: 'Dear Mary, the ball is here.' }], { addGenerationPrompt: false });
    const viaSlots = await forwardLogits(session, model, ids, adapterFeeds(session.inputNames, model.config, adapter, 1));
    const merged = mergedCopy(model, adapter);
    const plain = await allLogitsSession(merged);
    const viaMerge = await forwardLogits(plain, merged, ids);
    expect(maxAbsDiff(viaSlots, viaMerge)).toBeLessThan(1e-3);
    await session.release();
    await plain.release();
  });
});

/** The base model with the adapter merged into its weights (the merged export's own merge). */
function mergedCopy(model: Awaited<ReturnType<typeof loadModel>>, adapter: Awaited<ReturnType<typeof loadAdapter>>) {
  return { ...model, weights: new ModelWeights(mergeAdapterWeights(model, adapter), 'merged') };
}
