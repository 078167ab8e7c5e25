/**
 * Pulls a model from the Hugging Face Hub (or a mirror at HF_ENDPOINT) into the standard cache.
 * This is the only code in Attune that opens a network connection, and only when a person asks.
 *
 * `@huggingface/hub` makes the API calls (model info for the commit, the file tree). Its
 * `downloadFileToCacheDir` neither resumes nor checks hashes, so the file transfer is ours:
 * each file goes to `blobs/<etag>.incomplete`, continues from its length with an HTTP Range
 * request after any interruption, and is renamed to `blobs/<etag>` only when its sha256 (LFS) or
 * git blob hash (small files) matches the Hub's; then the snapshot link is made. Transient
 * errors (network, 5xx, 429) are retried with backoff, resuming where they stopped.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, open, rename, rm, stat, statfs, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listFiles, modelInfo } from '@huggingface/hub';
import { AttuneError, isAttuneError } from '../../shared/errors.js';
import { checkSnapshot, hubCacheDir, parseRepoRef, repoCacheDir } from './hub-cache.js';
import type { PullProgressInfo } from '../../shared/hub.js';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** A pull's progress (the app shows the same data: src/shared/hub.ts). */
export type PullProgress = PullProgressInfo;

export interface PullOptions {
  repo: string;
  revision?: string;
  /** Default: HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Default: HF_TOKEN. Never written anywhere or logged. */
  token?: string;
  /** Default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
  /** Tries after the first for a transient error (default 4), waiting retryDelayMs x 2^n. */
  retries?: number;
  retryDelayMs?: number;
  /** Free bytes on the disk holding `dir` (tests replace it). */
  freeBytes?: (dir: string) => Promise<number>;
}

export interface PulledFile {
  path: string;
  size: number;
  /** sha256 for LFS files, the git blob sha1 for small ones: the blob's name in the cache. */
  etag: string;
  /** Already in the cache (this or another tool downloaded it). */
  reused: boolean;
  /** Where a partial download continued from (bytes), when it did. */
  resumedFrom?: number;
}

export interface PullResult {
  repo: string;
  revision: string;
  commit: string;
  /** The snapshot folder: what `--model` opens. */
  dir: string;
  files: PulledFile[];
  /** Files in the repository Attune does not use (pickles, ONNX, GGUF, ...), never requested. */
  skipped: string[];
  downloadedBytes: number;
  totalBytes: number;
}

interface TreeEntry {
  type: string;
  path: string;
  size: number;
  oid: string;
  lfs?: { oid: string; size: number };
}

/** The files of a repository Attune uses. */
const SMALL_FILES = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'chat_template.json',
  'chat_template.jinja',
  'vocab.json',
  'merges.txt',
  'model.safetensors.index.json',
]);

/**
 * Chooses the files to download: configs, tokenizer files, the chat template and the safetensors
 * weights (those the index names, else model.safetensors, else every top-level .safetensors).
 * Pickles (.bin, .pt), ONNX, GGUF and files in subfolders are left out.
 */
export function chooseFiles(entries: TreeEntry[], indexShards?: string[]): { keep: TreeEntry[]; skipped: string[] } {
  const files = entries.filter((e) => e.type === 'file');
  const top = files.filter((e) => !e.path.includes('/'));
  const names = new Set(top.map((e) => e.path));
  let weights: Set<string>;
  if (indexShards) weights = new Set(indexShards);
  else if (names.has('model.safetensors')) weights = new Set(['model.safetensors']);
  else weights = new Set(top.filter((e) => e.path.endsWith('.safetensors')).map((e) => e.path));
  const keep = top.filter((e) => SMALL_FILES.has(e.path) || weights.has(e.path));
  const kept = new Set(keep.map((e) => e.path));
  return { keep, skipped: files.filter((e) => !kept.has(e.path)).map((e) => e.path) };
}

/** Downloads (or completes) one repository into the cache and returns its snapshot folder. */
export async function pullModel(opts: PullOptions): Promise<PullResult> {
  const ref = parseRepoRef(opts.repo);
  if (!ref) {
    throw new AttuneError('hub.bad-repo-id', { repo: opts.repo });
  }
  const repo = ref.repo;
  const revision = opts.revision ?? ref.revision ?? 'main';
  const endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const token = opts.token ?? (process.env.HF_TOKEN || undefined);
  if (token !== undefined && !/^hf_[A-Za-z0-9]+$/.test(token)) {
    throw new AttuneError('hub.token-format');
  }
  const cacheDir = opts.cacheDir ?? hubCacheDir();
  const ctx = new Transfer(endpoint, repo, revision, token, opts);
  const report = opts.onProgress ?? (() => {});

  // The commit the revision points to, and the file list at that commit.
  report({ phase: 'listing', repo, filesDone: 0, filesTotal: 0, doneBytes: 0, totalBytes: 0, bytesPerSecond: 0 });
  const info = await ctx.api(() => modelInfo({ name: repo, revision, hubUrl: endpoint, accessToken: token, fetch: ctx.fetch, additionalFields: ['sha'] }));
  const commit = (info as { sha?: string }).sha;
  if (!commit || !/^[0-9a-f]{40}$/.test(commit)) throw new AttuneError('hub.no-commit', { host: ctx.host, repo, revision });
  const tree: TreeEntry[] = [];
  await ctx.api(async () => {
    for await (const e of listFiles({ repo, revision: commit, recursive: true, hubUrl: endpoint, accessToken: token, fetch: ctx.fetch })) tree.push(e as TreeEntry);
  });

  const repoDir = repoCacheDir(cacheDir, repo);
  const snapshotDir = path.join(repoDir, 'snapshots', commit);
  await mkdir(path.join(repoDir, 'blobs'), { recursive: true }).catch((e) => {
    throw diskError(e, cacheDir);
  });

  // The index first (small): it says which shards the model needs.
  let choice = chooseFiles(tree);
  const indexEntry = choice.keep.find((e) => e.path === 'model.safetensors.index.json');
  const pulled: PulledFile[] = [];
  const totalOf = (entries: TreeEntry[]) => entries.reduce((s, e) => s + sizeOf(e), 0);
  const progress = new Progress(repo, report);
  if (indexEntry) {
    progress.begin(choice.keep.length, totalOf(choice.keep));
    pulled.push(await pullFile(ctx, repoDir, snapshotDir, commit, indexEntry, progress));
    const { readFile } = await import('node:fs/promises');
    let shards: string[];
    try {
      shards = [...new Set(Object.values((JSON.parse(await readFile(path.join(snapshotDir, indexEntry.path), 'utf8')) as { weight_map: Record<string, string> }).weight_map))];
    } catch {
      throw new AttuneError('hub.bad-index', { repo });
    }
    choice = chooseFiles(tree, shards);
  }
  const todo = choice.keep.filter((e) => e.path !== indexEntry?.path);
  const totalBytes = totalOf(choice.keep);
  progress.begin(choice.keep.length, totalBytes, pulled.length, indexEntry ? sizeOf(indexEntry) : 0);

  // Enough free space for what is not in the cache yet?
  let needed = 0;
  for (const e of todo) {
    const blob = path.join(repoDir, 'blobs', etagOf(e));
    if (existsSync(blob)) continue;
    const partial = await stat(blob + '.incomplete').then((s) => s.size, () => 0);
    needed += Math.max(0, sizeOf(e) - partial);
  }
  const free = await (opts.freeBytes ?? freeBytes)(repoDir);
  if (needed > 0 && free < needed + 64 * 2 ** 20) {
    throw new AttuneError('hub.disk-full', { repo, needed: formatSize(needed), folder: cacheDir, free: formatSize(free) }, { file: cacheDir });
  }

  for (const e of todo) pulled.push(await pullFile(ctx, repoDir, snapshotDir, commit, e, progress));

  // The revision points to this commit only once every file is in place.
  if (revision !== commit) {
    await mkdir(path.dirname(path.join(repoDir, 'refs', revision)), { recursive: true });
    await writeFile(path.join(repoDir, 'refs', revision), commit);
  }
  const check = checkSnapshot(snapshotDir);
  if (!check.complete) throw new AttuneError('hub.not-a-model', { repo, reason: check.reason });
  progress.done();
  return {
    repo,
    revision,
    commit,
    dir: snapshotDir,
    files: pulled,
    skipped: choice.skipped,
    downloadedBytes: progress.transferred,
    totalBytes,
  };
}

const sizeOf = (e: TreeEntry) => e.lfs?.size ?? e.size;
const etagOf = (e: TreeEntry) => e.lfs?.oid ?? e.oid;

async function pullFile(ctx: Transfer, repoDir: string, snapshotDir: string, commit: string, e: TreeEntry, progress: Progress): Promise<PulledFile> {
  const etag = etagOf(e);
  if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(etag) || e.path.split('/').includes('..') || path.isAbsolute(e.path)) {
    throw new AttuneError('hub.bad-file-entry', { host: ctx.host, repo: ctx.repo, path: e.path });
  }
  const size = sizeOf(e);
  const blob = path.join(repoDir, 'blobs', etag);
  const pointer = path.join(snapshotDir, e.path);
  const out: PulledFile = { path: e.path, size, etag, reused: false };
  progress.file(e.path);
  if (existsSync(blob) && (await stat(blob)).size === size) {
    out.reused = true;
    progress.add(size, false);
  } else {
    out.resumedFrom = await downloadBlob(ctx, `${ctx.endpoint}/${ctx.repo}/resolve/${commit}/${e.path.split('/').map(encodeURIComponent).join('/')}`, blob, e, progress);
    if (out.resumedFrom === 0) delete out.resumedFrom;
  }
  await linkInto(blob, pointer, ctx);
  progress.fileDone();
  return out;
}

/** Downloads a blob, resuming `<blob>.incomplete`; returns the offset it started from. */
async function downloadBlob(ctx: Transfer, url: string, blob: string, e: TreeEntry, progress: Progress): Promise<number> {
  const size = sizeOf(e);
  const partial = blob + '.incomplete';
  let firstOffset = -1;
  for (let attempt = 0; ; attempt++) {
    let offset = await stat(partial).then((s) => s.size, () => 0);
    if (offset > size) {
      await rm(partial, { force: true });
      offset = 0;
    }
    if (firstOffset < 0) {
      firstOffset = offset;
      progress.add(offset, false);
    }
    try {
      if (offset < size) await fetchInto(ctx, url, partial, offset, size, progress);
      break;
    } catch (err) {
      if (!isTransient(err) || attempt >= ctx.retries) throw ctx.mapError(err);
      await ctx.wait(attempt);
    }
  }
  // Verify before the file enters the cache under its real name.
  progress.phase('verifying');
  const lfs = e.lfs !== undefined;
  const actual = await hashFile(partial, lfs ? 'sha256' : 'git-sha1', size);
  const expected = etagOf(e);
  if (actual !== expected) {
    await rm(partial, { force: true });
    throw new AttuneError(
      'hub.checksum',
      { file: e.path, repo: ctx.repo, hash: lfs ? 'sha256' : 'checksum', expected: expected.slice(0, 12), actual: actual.slice(0, 12) },
      { file: e.path },
    );
  }
  await rename(partial, blob);
  progress.phase('downloading');
  return firstOffset;
}

async function fetchInto(ctx: Transfer, url: string, partial: string, offset: number, size: number, progress: Progress): Promise<void> {
  const headers: Record<string, string> = {};
  if (offset > 0) headers.Range = `bytes=${offset}-`;
  const res = await ctx.fetch(url, { headers });
  if (res.status === 416) return; // nothing left to send: the length is checked by the hash
  let append = offset > 0;
  if (append && res.status !== 206) {
    // The server ignored the Range: start the file again.
    progress.add(-offset, false);
    append = false;
  }
  const fh = await open(partial, append ? 'a' : 'w').catch((err) => {
    throw diskError(err, partial);
  });
  try {
    if (!res.body) throw new TypeError('fetch failed: empty body');
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      ctx.signal?.throwIfAborted();
      await fh.write(chunk).catch((err) => {
        throw diskError(err, partial);
      });
      progress.add(chunk.byteLength, true);
    }
  } finally {
    await fh.close();
  }
  const got = (await stat(partial)).size;
  if (got < size) throw Object.assign(new TypeError('fetch failed: the connection closed early'), { transient: true });
}

async function linkInto(blob: string, pointer: string, ctx: Transfer): Promise<void> {
  await mkdir(path.dirname(pointer), { recursive: true });
  await unlink(pointer).catch(() => undefined);
  try {
    await symlink(path.relative(path.dirname(pointer), blob), pointer);
  } catch {
    // Links need a privilege on Windows: a copy, as huggingface_hub does.
    await copyFile(blob, pointer).catch((err) => {
      throw diskError(err, pointer);
    });
  }
  void ctx;
}

async function hashFile(file: string, kind: 'sha256' | 'git-sha1', size: number): Promise<string> {
  const h = createHash(kind === 'sha256' ? 'sha256' : 'sha1');
  if (kind === 'git-sha1') h.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function freeBytes(dir: string): Promise<number> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function diskError(err: unknown, where: string): Error {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC') return new AttuneError('hub.disk-full-writing', { file: where }, { file: where });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new AttuneError('hub.cache-unwritable', { folder: where }, { file: where });
  return err as Error;
}

export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'unknown';
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${v} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** Thrown for an HTTP answer that may go away when tried again. */
class TransientHttpError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}

function isTransient(err: unknown): boolean {
  if (err instanceof TransientHttpError) return true;
  if (isAttuneError(err)) return false;
  if ((err as Error)?.name === 'AbortError') return false;
  return err instanceof TypeError || ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED', 'UND_ERR_SOCKET'].includes(errCode(err) ?? '');
}

function errCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: { code?: string; cause?: { code?: string } } };
  return e?.code ?? e?.cause?.code ?? e?.cause?.cause?.code;
}

/** One pull's connection settings, retries and error wording. */
class Transfer {
  readonly host: string;
  readonly retries: number;
  readonly signal?: AbortSignal;
  constructor(
    readonly endpoint: string,
    readonly repo: string,
    readonly revision: string,
    private readonly token: string | undefined,
    private readonly opts: PullOptions,
  ) {
    this.host = hostOf(endpoint);
    this.retries = opts.retries ?? 4;
    this.signal = opts.signal;
  }

  wait(attempt: number): Promise<void> {
    const ms = (this.opts.retryDelayMs ?? 500) * 2 ** attempt;
    return new Promise((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      this.signal?.addEventListener('abort', () => (clearTimeout(t), reject(this.signal!.reason)), { once: true });
    });
  }

  /** fetch with the token, the abort signal, and Hub errors turned into plain ones. */
  fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    this.signal?.throwIfAborted();
    const headers = new Headers(init.headers);
    if (this.token) headers.set('Authorization', `Bearer ${this.token}`);
    const res = await fetch(input, { ...init, headers, signal: this.signal, redirect: 'follow' });
    if (res.ok || res.status === 416) return res;
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 500 || res.status === 429 || res.status === 408) throw new TransientHttpError(res.status);
    throw this.httpError(res);
  };

  /** Runs an API call with retries on transient errors. */
  async api<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (!isTransient(err) || attempt >= this.retries) throw this.mapError(err);
        await this.wait(attempt);
      }
    }
  }

  /** Without a token the model may be private: the message says to give one. */
  private repoNotFound(): AttuneError {
    return new AttuneError(this.token ? 'hub.repo-not-found' : 'hub.repo-not-found-no-token', { repo: this.repo, host: this.host });
  }

  private httpError(res: Response): AttuneError {
    const code = res.headers.get('x-error-code');
    const page = `${this.endpoint}/${this.repo}`;
    if (code === 'GatedRepo') {
      return this.token
        ? new AttuneError('hub.gated-no-access', { repo: this.repo, page })
        : new AttuneError('hub.gated', { repo: this.repo, page });
    }
    if (code === 'RepoNotFound') return this.repoNotFound();
    if (code === 'RevisionNotFound') return new AttuneError('hub.revision-not-found', { repo: this.repo, revision: this.revision, host: this.host });
    if (code === 'EntryNotFound') return new AttuneError('hub.file-not-found', { repo: this.repo, host: this.host });
    if (res.status === 401 && this.token) return new AttuneError('hub.bad-token', { host: this.host });
    if (res.status === 401 || res.status === 404) return this.repoNotFound();
    if (res.status === 403) return new AttuneError('hub.forbidden', { host: this.host, repo: this.repo });
    return new AttuneError('hub.server-error', { host: this.host, status: res.status, repo: this.repo });
  }

  mapError(err: unknown): Error {
    if (isAttuneError(err)) return err;
    if ((err as Error)?.name === 'AbortError' || this.signal?.aborted) {
      return new AttuneError('hub.cancelled', { repo: this.repo });
    }
    if (err instanceof TransientHttpError) return new AttuneError('hub.server-error-repeated', { host: this.host, status: err.status, repo: this.repo });
    if (err instanceof TypeError || errCode(err)) {
      return this.endpoint === DEFAULT_ENDPOINT
        ? new AttuneError('hub.unreachable', { host: this.host })
        : new AttuneError('hub.unreachable-endpoint', { host: this.host, endpoint: this.endpoint });
    }
    return err as Error;
  }
}

function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
}

/** Bytes done, speed over a sliding window, time left. */
class Progress {
  transferred = 0;
  private doneBytes = 0;
  private totalBytes = 0;
  private filesDone = 0;
  private filesTotal = 0;
  private current?: string;
  private currentPhase: PullProgress['phase'] = 'downloading';
  private samples: { t: number; bytes: number }[] = [];
  private lastReport = 0;
  constructor(
    private readonly repo: string,
    private readonly report: (p: PullProgress) => void,
  ) {}

  begin(filesTotal: number, totalBytes: number, filesDone = this.filesDone, doneBytes = this.doneBytes): void {
    this.filesTotal = filesTotal;
    this.totalBytes = totalBytes;
    this.filesDone = filesDone;
    this.doneBytes = doneBytes;
  }
  file(name: string): void {
    this.current = name;
    this.emit(true);
  }
  phase(p: PullProgress['phase']): void {
    this.currentPhase = p;
    this.emit(true);
  }
  add(bytes: number, network: boolean): void {
    this.doneBytes += bytes;
    if (network) {
      this.transferred += bytes;
      const now = Date.now();
      this.samples.push({ t: now, bytes: this.transferred });
      while (this.samples.length > 2 && now - this.samples[0].t > 5000) this.samples.shift();
    }
    this.emit(false);
  }
  fileDone(): void {
    this.filesDone++;
    this.emit(true);
  }
  done(): void {
    this.currentPhase = 'done';
    this.current = undefined;
    this.emit(true);
  }
  private speed(): number {
    if (this.samples.length < 2) return 0;
    const a = this.samples[0];
    const b = this.samples[this.samples.length - 1];
    return b.t > a.t ? ((b.bytes - a.bytes) * 1000) / (b.t - a.t) : 0;
  }
  private emit(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastReport < 100) return;
    this.lastReport = now;
    const bytesPerSecond = this.speed();
    const left = Math.max(0, this.totalBytes - this.doneBytes);
    this.report({
      phase: this.currentPhase,
      repo: this.repo,
      file: this.current,
      filesDone: this.filesDone,
      filesTotal: this.filesTotal,
      doneBytes: this.doneBytes,
      totalBytes: this.totalBytes,
      bytesPerSecond,
      secondsLeft: bytesPerSecond > 0 ? left / bytesPerSecond : undefined,
    });
  }
}
