/**
 * Models already on this computer: fake LM Studio, Ollama and Hugging Face cache trees in a
 * temporary HOME, listed by `attune models list --json` from headers and manifests, and opened by
 * the `path` each entry gives (`attune models inspect`), plus a repo id and an Ollama name:tag.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GGUF_TYPE, hfToGguf, writeGguf } from '../../helpers/gguf.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';

const run = promisify(execFile);
const repoRoot = path.resolve(import.meta.dirname, '../../..');
const home = mkdtempSync(path.join(os.tmpdir(), 'attune-home-'));
const env = { ...process.env, HOME: home, USERPROFILE: home, XDG_CACHE_HOME: '', XDG_CONFIG_HOME: '', HF_HOME: '', HF_HUB_CACHE: '', HUGGINGFACE_HUB_CACHE: '', OLLAMA_MODELS: '', ATTUNE_CONFIG_DIR: '', ATTUNE_CACHE_DIR: path.join(home, 'attune-cache') };
for (const k of ['XDG_CACHE_HOME', 'XDG_CONFIG_HOME', 'HF_HOME', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'OLLAMA_MODELS', 'ATTUNE_CONFIG_DIR'] as const) delete (env as Record<string, string | undefined>)[k];

async function attune(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/attune.mjs', ...args], { cwd: repoRoot, env });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const tinyDir = path.join(home, 'src', 'tiny');
const tinyGguf = path.join(home, 'src', 'tiny.gguf');
const ollamaBlob = (hex: string) => path.join(home, '.ollama', 'models', 'blobs', `sha256-${hex}`);

beforeAll(() => {
  writeTinyModel(tinyDir, 'llama');
  hfToGguf(tinyDir, tinyGguf);
  // LM Studio: the default folder, a downloadsFolder from its settings, and the older location.
  const lms = path.join(home, '.lmstudio', 'models', 'tiny-pub', 'tiny-GGUF');
  mkdirSync(lms, { recursive: true });
  copyFileSync(tinyGguf, path.join(lms, 'tiny-F32.gguf'));
  copyFileSync(tinyGguf, path.join(lms, 'no-extension-but-gguf')); // recognised by its magic bytes
  writeFileSync(path.join(lms, 'notes.gguf'), 'not a model'); // a .gguf name that is not GGUF
  writeGguf(path.join(lms, 'mmproj-tiny-f16.gguf'), new Map([['general.architecture', { type: GGUF_TYPE.STRING, value: 'clip' }]]), []);
  const other = path.join(home, '.lmstudio', 'models', 'other-pub', 'gemma-GGUF');
  mkdirSync(other, { recursive: true });
  writeGguf(path.join(other, 'gemma.gguf'), new Map([['general.architecture', { type: GGUF_TYPE.STRING, value: 'gemma3' }], ['general.name', { type: GGUF_TYPE.STRING, value: 'g' }]]), []);
  const downloads = path.join(home, 'LMStudioModels');
  mkdirSync(path.join(downloads, 'pub2', 'tiny-hf'), { recursive: true });
  for (const f of readdirSync(tinyDir)) copyFileSync(path.join(tinyDir, f), path.join(downloads, 'pub2', 'tiny-hf', f));
  writeFileSync(path.join(home, '.lmstudio', 'settings.json'), JSON.stringify({ downloadsFolder: downloads }));
  mkdirSync(path.join(home, '.cache', 'lm-studio', 'models', 'old-pub', 'old-GGUF'), { recursive: true });
  copyFileSync(tinyGguf, path.join(home, '.cache', 'lm-studio', 'models', 'old-pub', 'old-GGUF', 'old.gguf'));

  // Ollama: a manifest whose model layer is a GGUF blob without an extension.
  const bytes = readFileSync(tinyGguf);
  const hex = createHash('sha256').update(bytes).digest('hex');
  mkdirSync(path.dirname(ollamaBlob(hex)), { recursive: true });
  writeFileSync(ollamaBlob(hex), bytes);
  const manifest = path.join(home, '.ollama', 'models', 'manifests', 'registry.ollama.ai', 'library', 'tinyllm', '1b');
  mkdirSync(path.dirname(manifest), { recursive: true });
  writeFileSync(
    manifest,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 10 },
      layers: [
        { mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${hex}`, size: bytes.length },
        { mediaType: 'application/vnd.ollama.image.template', digest: `sha256:${'1'.repeat(64)}`, size: 10 },
      ],
    }),
  );

  // The Hugging Face cache (~/.cache/huggingface/hub): one complete snapshot, one with a missing blob.
  const hub = path.join(home, '.cache', 'huggingface', 'hub');
  const commit = 'a'.repeat(40);
  for (const [repo, complete] of [['someone/tiny-chat', true], ['someone/half-done', false]] as const) {
    const rdir = path.join(hub, `models--${repo.replace('/', '--')}`);
    mkdirSync(path.join(rdir, 'blobs'), { recursive: true });
    mkdirSync(path.join(rdir, 'snapshots', commit), { recursive: true });
    mkdirSync(path.join(rdir, 'refs'), { recursive: true });
    writeFileSync(path.join(rdir, 'refs', 'main'), commit);
    for (const f of readdirSync(tinyDir)) {
      const b = readFileSync(path.join(tinyDir, f));
      const etag = createHash('sha256').update(b).digest('hex');
      if (complete || f !== 'model.safetensors') writeFileSync(path.join(rdir, 'blobs', etag), b);
      else writeFileSync(path.join(rdir, 'blobs', etag + '.incomplete'), b.subarray(0, 100));
      symlinkSync(path.join('..', '..', 'blobs', etag), path.join(rdir, 'snapshots', commit, f));
    }
  }
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('attune models list', () => {
  it('lists the catalog and the models in the Hugging Face cache, LM Studio, Ollama and added, each with whether it can be tuned', async () => {
    expect((await attune(['models', 'add', tinyDir, '--json'])).code).toBe(0);
    const r = await attune(['models', 'list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const list = JSON.parse(r.stdout) as { name: string; source: string; path: string; canTune: boolean; reason?: string; downloaded?: boolean; memory?: { fit: string } }[];
    const by = (name: string) => list.find((m) => m.name === name)!;
    for (const m of list) expect(Object.keys(m)).toEqual(expect.arrayContaining(['name', 'source', 'path', 'canTune']));
    const catalog = list.filter((m) => m.source === 'catalog');
    expect(catalog.map((m) => m.name)).toEqual(expect.arrayContaining(['HuggingFaceTB/SmolLM2-135M-Instruct', 'Qwen/Qwen3-0.6B', 'meta-llama/Llama-3.2-1B-Instruct', 'TinyLlama/TinyLlama-1.1B-Chat-v1.0']));
    expect(catalog.every((m) => m.downloaded === false && ['fits', 'tight', 'too-big'].includes(m.memory!.fit))).toBe(true);

    expect(by('someone/tiny-chat')).toMatchObject({ source: 'hub-cache', path: 'someone/tiny-chat', canTune: true });
    expect(by('someone/half-done')).toMatchObject({ source: 'hub-cache', canTune: false, reason: expect.stringContaining('model.safetensors has not been downloaded') });
    expect(by('tiny-pub/tiny-GGUF/tiny-F32.gguf')).toMatchObject({ source: 'lmstudio', canTune: true });
    expect(by('tiny-pub/tiny-GGUF/no-extension-but-gguf')).toMatchObject({ source: 'lmstudio', canTune: true });
    expect(list.find((m) => m.name.endsWith('notes.gguf'))).toBeUndefined();
    expect(by('tiny-pub/tiny-GGUF/mmproj-tiny-f16.gguf')).toMatchObject({ canTune: false, reason: expect.stringContaining('image encoder') });
    expect(by('other-pub/gemma-GGUF/gemma.gguf')).toMatchObject({ canTune: false, reason: expect.stringContaining('"gemma3" is not one Attune supports') });
    expect(by('pub2/tiny-hf')).toMatchObject({ source: 'lmstudio', canTune: true, path: path.join(home, 'LMStudioModels', 'pub2', 'tiny-hf') });
    expect(by('old-pub/old-GGUF/old.gguf')).toMatchObject({ source: 'lmstudio', canTune: true });
    expect(by('tinyllm:1b')).toMatchObject({ source: 'ollama', canTune: true });
    expect(by('tinyllm:1b').path).toMatch(/blobs[/\\]sha256-[0-9a-f]{64}$/);
    expect(by('tiny')).toMatchObject({ source: 'added', path: tinyDir, canTune: true });

    // Every model that can be tuned opens by the path it is listed with.
    const openable = list.filter((m) => m.source !== 'catalog' && m.canTune);
    expect(openable.length).toBe(7);
    for (const m of openable) {
      const i = await attune(['models', 'inspect', m.path, '--json']);
      expect(i.code, `${m.name}: ${i.stdout}${i.stderr}`).toBe(0);
      expect(JSON.parse(i.stdout)).toMatchObject({ architecture: 'llama', vocabSize: 512 });
    }
  }, 300_000);

  it('opens an Ollama model by name:tag and says plainly when a repo id is not downloaded or incomplete', async () => {
    const o = await attune(['models', 'inspect', 'tinyllm:1b', '--json']);
    expect(o.code, o.stdout).toBe(0);
    expect(JSON.parse(o.stdout)).toMatchObject({ source: 'gguf', architecture: 'llama' });
    const missing = await attune(['models', 'inspect', 'someone/not-here']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^attune: someone\/not-here is not on this computer yet \(looked in .*\)\. Download it with `attune models pull someone\/not-here` or from the app's Model step\.\n$/);
    const half = await attune(['models', 'inspect', 'someone/half-done']);
    expect(half.stderr).toBe('attune: The download of someone/half-done is not complete (model.safetensors has not been downloaded). Pull it again to finish it: `attune models pull someone/half-done`.\n');
  }, 120_000);

  it('prints the groups in words', async () => {
    const r = await attune(['models', 'list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('On this computer (');
    expect(r.stdout).toContain('Recommended to download (attune models pull <name>):');
    expect(r.stdout).toContain('tinyllm:1b  [Ollama');
  });
});
