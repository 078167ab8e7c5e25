/**
 * Exports round-trip: merged HF folders and GGUF files written by Attune load back in Attune with
 * the logits of base + adapter (F32 within 1e-3; F16/Q8_0/Q4_0 within their quantisation's
 * tolerance), carry the adapter's chat template, and are written whole or not at all.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAdapter, type Adapter } from '../../../src/engine/adapter/adapter.js';
import { exportModel, type ExportProgress } from '../../../src/engine/export/index.js';
import { baseRows } from '../../../src/engine/generate/chat-session.js';
import { loadModel, type LoadedModel } from '../../../src/engine/models/load.js';
import { NAMED_TEMPLATES } from '../../../src/engine/tokenizer/chat-template.js';
import { metaValue, readGguf } from '../../../src/engine/weights/gguf.js';
import { readSafetensors } from '../../../src/engine/weights/safetensors.js';
import { maxAbsDiff } from '../../helpers/engine-run.js';
import { STORIES260K_HF_DIR, writeTinyModel, type TinyArch } from '../../helpers/tiny-model.js';
import { adapterLogits, argmaxAgreement, mergedTwin, saveRandomAdapter, tempDir } from './fixtures.js';

const tmp = tempDir();
process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let stories: LoadedModel;
let adapter: Adapter;
const adapterDir = path.join(tmp, 'adapter');
let ids: number[];
let expected: Float32Array;
/** Measured errors, printed at the end for the record. */
const measured: Record<string, number> = {};

beforeAll(async () => {
  stories = await loadModel(STORIES260K_HF_DIR);
  adapter = await saveRandomAdapter(adapterDir, stories, { template: 'alpaca', tokenRows: [2] });
  adapter = await loadAdapter(adapterDir, stories.config, (x) => baseRows(stories, x));
  ids = stories.tokenizer.encodeChat([{ role: 'user', content: 'Where is the ball? Ask for Mary.' }, { role: 'assistant', content: 'Dear Mary, the ball is here.' }], { addGenerationPrompt: false });
  expected = await adapterLogits(stories, adapter, ids);
});
afterAll(() => console.log('export round-trip max |logit error|:', JSON.stringify(measured)));

async function roundTrip(model: LoadedModel, modelPath: string, adapterPath: string, format: Parameters<typeof exportModel>[0]['format'], want: Float32Array, tokens: number[]) {
  const out = path.join(tmp, `${path.basename(modelPath)}-${format}-${path.basename(adapterPath)}`);
  const r = await exportModel({ modelPath, adapterDir: adapterPath, format, out });
  const file = format === 'merged' ? out : path.join(out, r.files.find((f) => f.name.endsWith('.gguf'))!.name);
  const back = await loadModel(file);
  const { allLogitsSession, forwardLogits } = await import('../../helpers/engine-run.js');
  // Exact F32 compute on what the file holds (chat multiplies Q8_0/Q4_0 blocks with int8 kernels).
  const s = await allLogitsSession(back, undefined, true);
  const got = await forwardLogits(s, back, tokens);
  await s.release();
  return { r, out, file, back, err: maxAbsDiff(got, want) };
}

describe('merged Hugging Face folder', () => {
  it('stories260K + adapter (with a trained </s> row): same logits as base + adapter, trained template, files carried', async () => {
    const { r, out, err } = await roundTrip(stories, STORIES260K_HF_DIR, adapterDir, 'merged', expected, ids);
    measured['merged F32 stories260K'] = err;
    expect(err).toBeLessThan(1e-3);
    expect(r.files.map((f) => f.name)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'README.md']));
    const tc = JSON.parse(readFileSync(path.join(out, 'tokenizer_config.json'), 'utf8'));
    expect(tc.chat_template).toBe(NAMED_TEMPLATES.alpaca);
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')).torch_dtype).toBe('float32');
    const st = await readSafetensors(path.join(out, 'model.safetensors'));
    expect(st.tensors.has('lm_head.weight')).toBe(false); // tied: one table, with the tuned row
    expect([...st.tensors.values()].every((t) => t.dtype === 'F32')).toBe(true);
    // The base logits are clearly different: the merge did something.
    const { allLogitsSession, forwardLogits } = await import('../../helpers/engine-run.js');
    const s = await allLogitsSession(stories);
    expect(maxAbsDiff(await forwardLogits(s, stories, ids), expected)).toBeGreaterThan(0.5);
    await s.release();
  });

  it.each(['llama', 'mistral', 'qwen2', 'qwen3'] as TinyArch[])('%s (tiny, untied head rows for llama/mistral): merged and GGUF round trips within 1e-3', async (arch) => {
    const dir = path.join(tmp, `tiny-${arch}`);
    writeTinyModel(dir, arch, { seed: 3 });
    const model = await loadModel(dir);
    const aDir = path.join(tmp, `adapter-${arch}`);
    await saveRandomAdapter(aDir, model, { seed: 11, tokenRows: [2, 5] });
    const a = await loadAdapter(aDir, model.config, (x) => baseRows(model, x));
    const tokens = [1, 20, 300, 41, 2, 77, 9];
    const want = await adapterLogits(model, a, tokens);
    const { err, out } = await roundTrip(model, dir, aDir, 'merged', want, tokens);
    measured[`merged F32 tiny ${arch}`] = err;
    expect(err).toBeLessThan(1e-3);
    const st = await readSafetensors(path.join(out, 'model.safetensors'));
    expect(st.tensors.has('lm_head.weight')).toBe(!model.config.tieEmbeddings);
    // The same through GGUF (Q/K permutation, qkv biases, q/k norms, head_dim, untied head).
    const g = await roundTrip(model, dir, aDir, 'gguf-f32', want, tokens);
    measured[`gguf-f32 tiny ${arch}`] = g.err;
    expect(g.err).toBeLessThan(1e-3);
  });

  it('an F16 base gives F16 safetensors (torch_dtype float16) within F16 rounding', async () => {
    const dir = path.join(tmp, 'tiny-f16');
    writeTinyModel(dir, 'llama', { seed: 4, dtype: 'F16' });
    const model = await loadModel(dir);
    const aDir = path.join(tmp, 'adapter-f16');
    await saveRandomAdapter(aDir, model, { seed: 12 });
    const a = await loadAdapter(aDir, model.config);
    const tokens = [1, 20, 300, 41, 2, 77, 9];
    const want = await adapterLogits(model, a, tokens);
    const { err, out } = await roundTrip(model, dir, aDir, 'merged', want, tokens);
    measured['merged F16 tiny llama'] = err;
    expect(err).toBeLessThan(2e-2);
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')).torch_dtype).toBe('float16');
    expect([...(await readSafetensors(path.join(out, 'model.safetensors'))).tensors.values()].every((t) => t.dtype === 'F16')).toBe(true);
  });
});

describe('GGUF export', () => {
  const TYPE = { 'gguf-f32': 'F32', 'gguf-f16': 'F16', 'gguf-q8_0': 'Q8_0', 'gguf-q4': 'Q4_0' } as const;
  // Agreement of the top token with unquantised base + adapter, over the test sequence's positions.
  // 4 bits cost a 260K-parameter model with 64-wide rows a lot (measured 0.42 here, 0.84 on a
  // story prompt); the exactness check against the quantised twin is what proves the export.
  const minAgreement = { 'gguf-f32': 1, 'gguf-f16': 1, 'gguf-q8_0': 0.9, 'gguf-q4': 0.35 } as const;
  it.each(Object.keys(TYPE) as (keyof typeof TYPE)[])('%s loads back in Attune as exactly the quantised merge of base + adapter', async (format) => {
    // What the file should hold: base + adapter merged by hand, through the type's quantizer.
    const twin = mergedTwin(stories, adapter, TYPE[format]);
    const { allLogitsSession, forwardLogits } = await import('../../helpers/engine-run.js');
    const ts = await allLogitsSession(twin);
    const want = await forwardLogits(ts, twin, ids);
    await ts.release();
    const { r, out, file, err, back } = await roundTrip(stories, STORIES260K_HF_DIR, adapterDir, format, want, ids);
    expect(err).toBeLessThan(1e-4);
    const got = await (async () => { const s = await allLogitsSession(back, undefined, true); const x = await forwardLogits(s, back, ids); await s.release(); return x; })();
    measured[`${format} stories260K vs unquantised`] = maxAbsDiff(got, expected);
    const agree = argmaxAgreement(got, expected, stories.config.vocab);
    measured[`${format} top-1 agreement`] = agree;
    expect(agree).toBeGreaterThanOrEqual(minAgreement[format]);
    if (format === 'gguf-f32') expect(maxAbsDiff(got, expected)).toBeLessThan(1e-3);
    expect(r.files.map((f) => f.name).sort()).toEqual([path.basename(file), 'Modelfile', 'README.md'].sort());
    const g = await readGguf(file);
    expect(metaValue(g, 'tokenizer.chat_template')).toBe(NAMED_TEMPLATES.alpaca);
    expect(back.tokenizer.encode('Hello there', { addSpecialTokens: true })).toEqual(stories.tokenizer.encode('Hello there', { addSpecialTokens: true }));
    const modelfile = readFileSync(path.join(out, 'Modelfile'), 'utf8');
    expect(modelfile).toContain(`FROM ./${path.basename(file)}\n`);
    expect(modelfile).toContain('PARAMETER stop "</s>"');
    expect(modelfile).toContain('### Instruction:\n{{ .Prompt }}');
    expect(modelfile).not.toMatch(/^ADAPTER/m);
    expect(r.ollamaTemplate).toBe('alpaca');
  });

  it('the Modelfile carries a system prompt, and the GGUF name says it was tuned', async () => {
    const out = path.join(tmp, 'with-system');
    await exportModel({ modelPath: STORIES260K_HF_DIR, adapterDir, format: 'gguf-q8_0', out, system: 'You answer support tickets politely.' });
    const modelfile = readFileSync(path.join(out, 'Modelfile'), 'utf8');
    expect(modelfile).toContain('SYSTEM """You answer support tickets politely."""');
    const g = await readGguf(path.join(out, 'with-system.Q8_0.gguf'));
    expect(metaValue(g, 'general.name')).toContain('tuned with Attune');
    expect(metaValue(g, 'general.file_type')).toBe(7);
  });

  it('a GGUF base (the shipped stories260K.gguf) exports to a merged HF folder with the same logits', async () => {
    const gguf = path.join(path.dirname(STORIES260K_HF_DIR), 'stories260K', 'stories260K.gguf');
    const out = path.join(tmp, 'from-gguf');
    const r = await exportModel({ modelPath: gguf, adapterDir, format: 'merged', out });
    expect(r.files.map((f) => f.name)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']));
    const back = await loadModel(out);
    const { allLogitsSession, forwardLogits } = await import('../../helpers/engine-run.js');
    const s = await allLogitsSession(back);
    const err = maxAbsDiff(await forwardLogits(s, back, ids), expected);
    await s.release();
    measured['merged F32 from stories260K.gguf'] = err;
    expect(err).toBeLessThan(1e-3);
  });
});

describe('PEFT export', () => {
  it('copies the adapter byte for byte, with tokenizer files (trained template) and a PEFT README; loads back', async () => {
    const out = path.join(tmp, 'peft');
    const r = await exportModel({ modelPath: STORIES260K_HF_DIR, adapterDir, format: 'peft', out });
    expect(r.files.map((f) => f.name).sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    for (const f of ['adapter_config.json', 'adapter_model.safetensors']) expect(readFileSync(path.join(out, f)).equals(readFileSync(path.join(adapterDir, f)))).toBe(true);
    expect(readFileSync(path.join(out, 'README.md'), 'utf8')).toContain('PeftModel.from_pretrained');
    expect(JSON.parse(readFileSync(path.join(out, 'tokenizer_config.json'), 'utf8')).chat_template).toBe(NAMED_TEMPLATES.alpaca);
    const back = await loadAdapter(out, stories.config, (x) => baseRows(stories, x));
    expect(back.template).toBe('alpaca');
    expect(maxAbsDiff(back.tokenRows!.embed, adapter.tokenRows!.embed)).toBe(0);
  });
});

describe('writing safely', () => {
  it('refuses to overwrite without force, replaces with force, and reports progress to the end', async () => {
    const out = path.join(tmp, 'twice');
    await exportModel({ modelPath: STORIES260K_HF_DIR, adapterDir, format: 'peft', out });
    await expect(exportModel({ modelPath: STORIES260K_HF_DIR, adapterDir, format: 'gguf-f16', out })).rejects.toMatchObject({ code: 'export-exists' });
    expect(existsSync(path.join(out, 'adapter_config.json'))).toBe(true);
    const events: ExportProgress[] = [];
    await exportModel({ modelPath: STORIES260K_HF_DIR, adapterDir, format: 'gguf-f16', out, force: true, onProgress: (p) => events.push(p) });
    expect(existsSync(path.join(out, 'adapter_config.json'))).toBe(false);
    expect(existsSync(path.join(out, 'twice.F16.gguf'))).toBe(true);
    expect(events[0]).toEqual({ phase: 'load', done: 0, total: 1 });
    expect(events.at(-1)).toEqual({ phase: 'done', done: 1, total: 1 });
    const convert = events.filter((e) => e.phase === 'convert');
    expect(convert.at(-1)!.done).toBe(convert.at(-1)!.total);
    expect(convert.map((e) => e.done)).toEqual(convert.map((_, i) => i + 1));
    expect(events.filter((e) => e.phase === 'merge').at(-1)).toEqual({ phase: 'merge', done: 35, total: 35 });
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('a failed export leaves nothing behind, and the inputs can never be the folder that --force replaces', async () => {
    const out = path.join(tmp, 'failed');
    const tiny = path.join(tmp, 'tiny-other');
    writeTinyModel(tiny, 'qwen2', { seed: 5 });
    await expect(exportModel({ modelPath: tiny, adapterDir, format: 'merged', out })).rejects.toMatchObject({ code: 'adapter-mismatch' });
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await expect(exportModel({ modelPath: STORIES260K_HF_DIR, adapterDir, format: 'merged', out: tmp, force: true })).rejects.toMatchObject({ code: 'export-out-unsafe' });
    await expect(exportModel({ modelPath: STORIES260K_HF_DIR, format: 'peft', out })).rejects.toMatchObject({ code: 'export-adapter-missing' });
  });
});
