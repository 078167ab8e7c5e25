/**
 * `attune export` through its commander program, and the Ollama Modelfile's template table:
 * known templates (including a model's own one that renders like a named one) get their row,
 * anything else a generic template and a warning.
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerExportCommand } from '../../../src/cli/commands/export.js';
import { buildModelfile, identifyTemplate } from '../../../src/engine/export/index.js';
import { loadModel } from '../../../src/engine/models/load.js';
import { NAMED_TEMPLATES } from '../../../src/engine/tokenizer/chat-template.js';
import { STORIES260K_HF_DIR } from '../../helpers/tiny-model.js';
import { saveRandomAdapter, tempDir } from './fixtures.js';

const tmp = tempDir('attune-export-cli-');
process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
const adapterDir = path.join(tmp, 'adapter');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(async () => {
  await saveRandomAdapter(adapterDir, await loadModel(STORIES260K_HF_DIR), { template: 'model', rank: 2 });
});

async function run(args: string[]) {
  let out = '';
  const program = new Command('attune').exitOverride().configureOutput({ writeOut: (s) => (out += s), writeErr: () => undefined });
  registerExportCommand(program);
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  try {
    await program.parseAsync(args, { from: 'user' });
    return { out };
  } catch (error) {
    return { out, error: error as Error & { code?: string } };
  } finally {
    process.stdout.write = write;
  }
}

describe('attune export', () => {
  it('--json prints progress lines and a result; a second run needs --force', async () => {
    const out = path.join(tmp, 'gguf');
    const args = ['export', '--model', STORIES260K_HF_DIR, '--adapter', adapterDir, '--format', 'gguf-f16', '--out', out, '--json'];
    const r = await run(args);
    expect(r.error).toBeUndefined();
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === 'progress').length).toBeGreaterThan(5);
    const result = lines.at(-1);
    expect(result).toMatchObject({ type: 'result', format: 'gguf-f16', template: 'model', ollamaTemplate: 'alpaca', warnings: [] });
    expect(result.files.map((f: { name: string }) => f.name)).toContain('gguf.F16.gguf');
    expect((await run(args)).error).toMatchObject({ code: 'export-exists' });
    expect((await run([...args, '--force'])).error).toBeUndefined();
  });

  it('refuses an unknown format and a missing --out before doing anything', async () => {
    expect((await run(['export', '--model', STORIES260K_HF_DIR, '--format', 'onnx', '--out', path.join(tmp, 'x')])).error).toMatchObject({ code: 'commander.invalidArgument' });
    expect((await run(['export', '--model', STORIES260K_HF_DIR, '--format', 'merged'])).error).toMatchObject({ code: 'commander.missingMandatoryOptionValue' });
  });
});

describe('Ollama Modelfile', () => {
  const specials = { bos_token: '<s>', eos_token: '</s>' };
  it("recognises the named templates, and stories260K's own Alpaca-style template as alpaca", () => {
    for (const name of Object.keys(NAMED_TEMPLATES)) expect(identifyTemplate(NAMED_TEMPLATES[name]!, specials)).toBe(name);
    const own = JSON.parse(readFileSync(path.join(STORIES260K_HF_DIR, 'tokenizer_config.json'), 'utf8')).chat_template;
    expect(own).not.toBe(NAMED_TEMPLATES.alpaca);
    expect(identifyTemplate(own, specials)).toBe('alpaca');
    expect(identifyTemplate('{{ messages[0].content }}', specials)).toBeUndefined();
    expect(identifyTemplate('{% broken', specials)).toBeUndefined();
  });

  it('chatml and llama3 rows: FROM the GGUF, template, stop tokens, system', () => {
    const chatml = buildModelfile({ ggufFile: 'm.gguf', chatTemplate: NAMED_TEMPLATES.chatml, eosToken: '<|endoftext|>', stopTokens: ['<|im_end|>', '<|endoftext|>'], system: 'Answer briefly.' });
    expect(chatml.template).toBe('chatml');
    expect(chatml.text).toContain('FROM ./m.gguf\n');
    expect(chatml.text).toContain('<|im_start|>assistant\n{{ .Response }}<|im_end|>');
    expect(chatml.text.match(/^PARAMETER stop .*$/gm)).toEqual(['PARAMETER stop "<|im_end|>"', 'PARAMETER stop "<|endoftext|>"', 'PARAMETER stop "<|im_start|>"']);
    expect(chatml.text).toContain('SYSTEM """Answer briefly."""');
    const llama3 = buildModelfile({ ggufFile: 'm.gguf', chatTemplate: NAMED_TEMPLATES.llama3, bosToken: '<|begin_of_text|>', eosToken: '<|end_of_text|>', stopTokens: ['<|eot_id|>'] });
    expect(llama3.template).toBe('llama3');
    expect(llama3.text).toContain('<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>');
    expect(llama3.text).not.toContain('begin_of_text'); // llama.cpp adds BOS itself
    expect(llama3.text).not.toMatch(/^SYSTEM/m);
  });

  it('an unknown template gets a generic TEMPLATE and says so', () => {
    const m = buildModelfile({ ggufFile: 'm.gguf', chatTemplate: '{% for m in messages %}<<{{ m.content }}>>{% endfor %}', stopTokens: ['</s>'] });
    expect(m.template).toBe('generic');
    expect(m.warning).toMatch(/generic/);
    expect(m.text).toContain('TEMPLATE """{{ if .System }}');
  });
});
