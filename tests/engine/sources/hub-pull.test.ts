/**
 * The Hub pull against a local stand-in Hub (tests/helpers/fake-hub.ts): the server itself is
 * checked with @huggingface/hub's own snapshotDownload, then Attune's puller is tested for the
 * cache layout, the files it leaves out, resume after SIGKILL, hash checks, gated repos, retries
 * and plain errors.
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { snapshotDownload } from '@huggingface/hub';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pullModel, type PullProgress } from '../../../src/engine/sources/index.js';
import { FakeHub, gitOid, isLfs, repoFromFolder, sha256, type FakeRepo } from '../../helpers/fake-hub.js';
import { writeTinyModel } from '../../helpers/tiny-model.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const work = mkdtempSync(path.join(os.tmpdir(), 'attune-hub-'));
const TOKEN = 'hf_allowedToken123';
const OTHER = 'hf_knownButNotAccepted';
let hub: FakeHub;
let tiny: FakeRepo;
let big: FakeRepo;

function tinyRepo(id: string, opts: Parameters<typeof writeTinyModel>[2] = {}, extra: Partial<FakeRepo> = {}): FakeRepo {
  const dir = path.join(work, 'src', id.replace('/', '--'));
  writeTinyModel(dir, 'llama', opts);
  // What real repos also hold, which Attune must never download.
  writeFileSync(path.join(dir, 'pytorch_model.bin'), Buffer.alloc(3000, 7));
  writeFileSync(path.join(dir, 'model.onnx'), Buffer.alloc(2000, 8));
  writeFileSync(path.join(dir, 'model-q4.gguf'), Buffer.alloc(1000, 9));
  mkdirSync(path.join(dir, 'onnx'));
  writeFileSync(path.join(dir, 'onnx', 'model.onnx'), Buffer.alloc(500, 1));
  writeFileSync(path.join(dir, 'README.md'), '# tiny\n');
  return repoFromFolder(id, dir, extra);
}

beforeAll(async () => {
  tiny = tinyRepo('test-org/tiny-llama');
  big = tinyRepo('test-org/big-llama', { hidden: 256, layers: 3, heads: 4, kvHeads: 2, ffn: 768 });
  const sharded = tinyRepo('test-org/sharded-llama', { sharded: true });
  const gated = tinyRepo('test-org/gated-llama', {}, { gated: true, allowed: [TOKEN] });
  hub = new FakeHub([tiny, big, sharded, gated], { tokens: [TOKEN, OTHER] });
  await hub.start();
});
afterAll(async () => {
  await hub.stop();
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
const freshCache = () => path.join(work, `cache-${n++}`);
const fileOf = (repo: FakeRepo, p: string) => repo.files.find((f) => f.path === p)!.bytes;

function expectLayout(cache: string, repo: FakeRepo, files: string[]) {
  const repoDir = path.join(cache, `models--${repo.id.replace('/', '--')}`);
  expect(readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8')).toBe(repo.commit);
  for (const p of files) {
    const bytes = fileOf(repo, p);
    const etag = isLfs(p) ? sha256(bytes) : gitOid(bytes);
    const link = path.join(repoDir, 'snapshots', repo.commit, p);
    expect(lstatSync(link).isSymbolicLink(), p).toBe(true);
    expect(readlinkSync(link)).toBe(path.join(...p.split('/').slice(1).map(() => '..'), '..', '..', 'blobs', etag));
    expect(readFileSync(link).equals(bytes), `${p} byte-identical`).toBe(true);
  }
  return repoDir;
}

describe('the stand-in Hub', () => {
  it("serves @huggingface/hub's own snapshotDownload into the standard cache layout", async () => {
    const cache = freshCache();
    const dir = await snapshotDownload({ repo: tiny.id, cacheDir: cache, hubUrl: hub.url });
    expect(dir).toBe(path.join(cache, 'models--test-org--tiny-llama', 'snapshots', tiny.commit));
    expectLayout(cache, tiny, tiny.files.map((f) => f.path));
    // and Attune's puller reuses every blob the other tool downloaded: no file body is requested again
    const before = hub.requests.length;
    const r = await pullModel({ repo: tiny.id, cacheDir: cache, endpoint: hub.url });
    expect(r.files.every((f) => f.reused)).toBe(true);
    expect(hub.requests.slice(before).filter((q) => q.url.includes('/resolve/') || q.url.startsWith('/lfs/'))).toEqual([]);
  });
});

describe('pullModel', () => {
  it('downloads only the files Attune uses, byte-identical, in the Hugging Face cache layout', async () => {
    const cache = freshCache();
    const before = hub.requests.length;
    const progress: PullProgress[] = [];
    const r = await pullModel({ repo: tiny.id, cacheDir: cache, endpoint: hub.url, onProgress: (p) => progress.push(p) });
    const used = ['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'];
    expect(r.files.map((f) => f.path).sort()).toEqual(used.sort());
    expect(r.skipped.sort()).toEqual(['README.md', 'model-q4.gguf', 'model.onnx', 'onnx/model.onnx', 'pytorch_model.bin']);
    expectLayout(cache, tiny, used);
    const asked = hub.requests.slice(before).map((q) => q.url);
    for (const never of ['pytorch_model.bin', 'model.onnx', '.gguf', 'README.md']) expect(asked.filter((u) => u.includes(never))).toEqual([]);
    expect(progress.at(-1)).toMatchObject({ phase: 'done', doneBytes: r.totalBytes, filesDone: used.length });
    expect(r.dir).toBe(path.join(cache, 'models--test-org--tiny-llama', 'snapshots', tiny.commit));
  });

  it('downloads every shard the index names', async () => {
    const cache = freshCache();
    const r = await pullModel({ repo: 'test-org/sharded-llama', cacheDir: cache, endpoint: hub.url });
    expect(r.files.map((f) => f.path)).toEqual(expect.arrayContaining(['model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']));
  });

  it('continues a download killed part-way (SIGKILL) with a Range request, not from zero', async () => {
    const cache = freshCache();
    const weights = fileOf(big, 'model.safetensors');
    const oid = sha256(weights);
    expect(weights.length).toBeGreaterThan(2_000_000);
    hub.throttle = 1_000_000; // bytes per second, so that the kill lands mid-file
    hub.sentBytes.delete(oid);
    const child = spawn(process.execPath, ['bin/attune.mjs', 'models', 'pull', big.id, '--json'], {
      cwd: repoRoot,
      env: { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_TOKEN: '' },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.on('exit', r));
    const t0 = Date.now();
    while ((hub.sentBytes.get(oid) ?? 0) < 600_000) {
      if (Date.now() - t0 > 45_000) throw new Error('the child never started downloading');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await exited;
    hub.throttle = undefined;
    const partial = path.join(cache, 'models--test-org--big-llama', 'blobs', `${oid}.incomplete`);
    const kept = statSync(partial).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(weights.length);
    expect(existsSync(path.join(cache, 'models--test-org--big-llama', 'blobs', oid))).toBe(false);
    expect(existsSync(path.join(cache, 'models--test-org--big-llama', 'refs', 'main'))).toBe(false);

    const before = hub.requests.length;
    const r = await pullModel({ repo: big.id, cacheDir: cache, endpoint: hub.url });
    const ranges = hub.requests.slice(before).filter((q) => q.url.startsWith(`/lfs/${oid}`)).map((q) => q.range);
    expect(ranges).toEqual([`bytes=${kept}-`]);
    expect(r.files.find((f) => f.path === 'model.safetensors')?.resumedFrom).toBe(kept);
    expect(r.downloadedBytes).toBe(weights.length - kept + r.files.filter((f) => f.path !== 'model.safetensors' && !f.reused).reduce((s, f) => s + f.size, 0));
    expectLayout(cache, big, ['model.safetensors', 'config.json']);
    expect(existsSync(partial)).toBe(false);
  });

  it('refuses a file with one wrong byte in words and leaves nothing that looks complete', async () => {
    const cache = freshCache();
    hub.corrupt.add('model.safetensors');
    try {
      await expect(pullModel({ repo: tiny.id, cacheDir: cache, endpoint: hub.url })).rejects.toMatchObject({
        code: 'hub.checksum',
        message: expect.stringMatching(/^The downloaded model\.safetensors of test-org\/tiny-llama does not match the sha256 the Hub gives for it .* so it was deleted\. Pull again\.$/),
      });
    } finally {
      hub.corrupt.delete('model.safetensors');
    }
    const repoDir = path.join(cache, 'models--test-org--tiny-llama');
    const blobs = readdirSync(path.join(repoDir, 'blobs'));
    expect(blobs).not.toContain(sha256(fileOf(tiny, 'model.safetensors')));
    expect(blobs.filter((b) => b.endsWith('.incomplete'))).toEqual([]);
    expect(existsSync(path.join(repoDir, 'snapshots', tiny.commit, 'model.safetensors'))).toBe(false);
    expect(existsSync(path.join(repoDir, 'refs', 'main'))).toBe(false);
    // A clean pull afterwards works.
    await pullModel({ repo: tiny.id, cacheDir: cache, endpoint: hub.url });
    expectLayout(cache, tiny, ['model.safetensors']);
  });

  it('a gated repo: refused without a token (accept the licence, give a token), with a token that has no access, and pulled with one that has', async () => {
    const cache = freshCache();
    const id = 'test-org/gated-llama';
    await expect(pullModel({ repo: id, cacheDir: cache, endpoint: hub.url, token: undefined })).rejects.toMatchObject({
      code: 'hub.gated',
      message: `${id} is gated: accept its licence on ${hub.url}/${id} while signed in, then give a Hugging Face token (HF_TOKEN, or Settings in the app) and pull again.`,
    });
    await expect(pullModel({ repo: id, cacheDir: cache, endpoint: hub.url, token: OTHER })).rejects.toMatchObject({ code: 'hub.gated', message: expect.stringContaining('does not have access') });
    await expect(pullModel({ repo: id, cacheDir: cache, endpoint: hub.url, token: 'hf_wrong' })).rejects.toMatchObject({ code: 'hub.bad-token', message: '127.0.0.1:' + new URL(hub.url).port + ' refused the Hugging Face token: check that it was copied whole and has not been deleted.' });
    const before = hub.requests.length;
    const r = await pullModel({ repo: id, cacheDir: cache, endpoint: hub.url, token: TOKEN });
    expect(r.files.length).toBeGreaterThan(3);
    expect(hub.requests.slice(before).filter((q) => !q.url.startsWith('/lfs/')).every((q) => q.authorized)).toBe(true);
  });

  it('retries a transient server error with backoff and finishes', async () => {
    const cache = freshCache();
    hub.failOnce.add('model.safetensors');
    hub.failOnce.add('config.json');
    const r = await pullModel({ repo: tiny.id, cacheDir: cache, endpoint: hub.url, retryDelayMs: 10 });
    expect(hub.failOnce.size).toBe(0);
    expectLayout(cache, tiny, ['model.safetensors', 'config.json']);
    expect(r.files).toHaveLength(6);
  });

  it('says plainly when the repo, the revision or the server is not there, and when the disk is too full', async () => {
    const cache = freshCache();
    const host = new URL(hub.url).host;
    await expect(pullModel({ repo: 'test-org/nope', cacheDir: cache, endpoint: hub.url })).rejects.toMatchObject({ code: 'hub.repo-not-found', message: `There is no model test-org/nope on ${host} (if it is private, give a Hugging Face token). Check the name.` });
    await expect(pullModel({ repo: tiny.id, revision: 'v9', cacheDir: cache, endpoint: hub.url })).rejects.toMatchObject({ code: 'hub.revision-not-found', message: `${tiny.id} has no revision "v9" on ${host}. Check the branch, tag or commit.` });
    await expect(pullModel({ repo: 'not a repo', cacheDir: cache, endpoint: hub.url })).rejects.toMatchObject({ code: 'hub.bad-repo-id' });
    await expect(pullModel({ repo: tiny.id, cacheDir: cache, endpoint: hub.url, freeBytes: async () => 1000 })).rejects.toMatchObject({ code: 'hub.disk-full', message: expect.stringMatching(/^Not enough free disk space to download test-org\/tiny-llama: it needs .* more and the disk holding .* has 1\.0 KB free\./) });
    // A port nobody listens on.
    const closed = new FakeHub([]);
    const url = await closed.start();
    await closed.stop();
    await expect(pullModel({ repo: tiny.id, cacheDir: cache, endpoint: url, retries: 1, retryDelayMs: 5 })).rejects.toMatchObject({
      code: 'hub.unreachable',
      message: `Could not reach ${new URL(url).host}: check the internet connection and the address ${url} (HF_ENDPOINT). What was downloaded so far is kept.`,
    });
  });

  it('stops when cancelled and continues later from the partial file', async () => {
    const cache = freshCache();
    const weights = fileOf(big, 'model.safetensors');
    const controller = new AbortController();
    hub.throttle = 2_000_000;
    const pulling = pullModel({
      repo: big.id,
      cacheDir: cache,
      endpoint: hub.url,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.file === 'model.safetensors' && p.doneBytes > 300_000) controller.abort();
      },
    });
    await expect(pulling).rejects.toMatchObject({ code: 'hub.cancelled' });
    hub.throttle = undefined;
    const partial = path.join(cache, 'models--test-org--big-llama', 'blobs', `${sha256(weights)}.incomplete`);
    const kept = statSync(partial).size;
    expect(kept).toBeGreaterThan(0);
    const r = await pullModel({ repo: big.id, cacheDir: cache, endpoint: hub.url });
    expect(r.files.find((f) => f.path === 'model.safetensors')?.resumedFrom).toBe(kept);
    expectLayout(cache, big, ['model.safetensors']);
  });

  it('chats with a pulled model by its repo id once the server is gone (no network)', async () => {
    const cache = freshCache();
    await pullModel({ repo: tiny.id, cacheDir: cache, endpoint: hub.url });
    await hub.stop();
    const { execFile } = await import('node:child_process');
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['bin/attune.mjs', 'chat', '--model', tiny.id, '--prompt', 'Hello', '--max-tokens', '4', '--temperature', '0', '--json'],
        { cwd: repoRoot, env: { ...process.env, HF_HUB_CACHE: cache, HF_ENDPOINT: hub.url, ATTUNE_CACHE_DIR: path.join(work, 'graphs') } },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(out.code, out.stderr).toBe(0);
    const j = JSON.parse(out.stdout.trim().split('\n').at(-1)!);
    expect(typeof j.text).toBe('string');
    expect(j.tokens.length).toBeGreaterThan(0);
  }, 120_000);
});
