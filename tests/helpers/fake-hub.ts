/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1 (random port), speaking the parts of its HTTP
 * API that clients use to download a model:
 *
 *   GET  /api/models/{org}/{name}/revision/{rev}      model info (`sha` = the commit, `siblings`, `gated`)
 *   GET  /api/models/{org}/{name}/tree/{rev}[/{dir}]  the file list (`oid`, `size`, `lfs: {oid, size}`)
 *   POST /api/models/{org}/{name}/paths-info/{rev}    info for given paths (`lastCommit` with expand)
 *   GET|HEAD /{org}/{name}/resolve/{rev}/{path}       small files: 200/206 with ETag and X-Repo-Commit;
 *                                                      LFS files: 302 to /lfs/{sha256} with
 *                                                      X-Linked-Etag, X-Linked-Size, X-Repo-Commit
 *   GET  /lfs/{sha256}                                 the bytes, with Range (206 + Content-Range)
 *
 * Errors carry the Hub's X-Error-Code header: RepoNotFound, GatedRepo (401 without a token, 403
 * with one that has no access), RevisionNotFound, EntryNotFound; a wrong token gets a plain 401.
 * For tests: a throttle, a corrupted byte, a one-time 503, and a log of every request.
 * Independent of engine code on purpose.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';

export interface FakeRepoFile {
  path: string;
  bytes: Buffer;
}

export interface FakeRepo {
  id: string;
  commit: string;
  files: FakeRepoFile[];
  gated?: boolean;
  /** Tokens that accepted the licence (gated repos). */
  allowed?: string[];
}

export interface RequestRecord {
  method: string;
  url: string;
  range?: string;
  authorized: boolean;
}

export interface FakeHubOptions {
  /** Tokens the server knows (any other `Bearer hf_...` is refused with a 401). */
  tokens?: string[];
}

const LFS_SUFFIXES = ['.safetensors', '.bin', '.pt', '.onnx', '.gguf', '.pth'];

export const isLfs = (path: string): boolean => LFS_SUFFIXES.some((s) => path.endsWith(s));
export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const gitOid = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/** A repo from a folder on disk (every file, recursively). */
export function repoFromFolder(id: string, dir: string, extra: Partial<FakeRepo> = {}): FakeRepo {
  const files: FakeRepoFile[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else files.push({ path: relative(dir, p).split('\\').join('/'), bytes: readFileSync(p) });
    }
  };
  walk(dir);
  const commit = createHash('sha1').update(id).update(String(files.length)).digest('hex');
  return { id, commit, files, ...extra };
}

export class FakeHub {
  readonly requests: RequestRecord[] = [];
  /** Bytes per second for /lfs/ bodies (undefined: as fast as possible). */
  throttle?: number;
  /** Paths whose served bytes have one byte flipped. */
  readonly corrupt = new Set<string>();
  /** Paths whose next request is answered 503 once. */
  readonly failOnce = new Set<string>();
  /** Bytes sent per LFS sha256 so far (all responses). */
  readonly sentBytes = new Map<string, number>();
  private readonly repos = new Map<string, FakeRepo>();
  private readonly tokens: Set<string>;
  private server?: http.Server;
  private readonly sockets = new Set<import('node:net').Socket>();
  url = '';

  constructor(repos: FakeRepo[], opts: FakeHubOptions = {}) {
    for (const r of repos) this.repos.set(r.id, r);
    this.tokens = new Set(opts.tokens ?? []);
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        res.statusCode = 500;
        res.end(String(e));
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  rangesFor(pathPart: string): string[] {
    return this.requests.filter((r) => r.url.includes(pathPart) && r.range).map((r) => r.range!);
  }

  private fail(res: http.ServerResponse, status: number, code: string | undefined, message: string): void {
    const headers: Record<string, string> = { 'Content-Type': 'application/json', 'X-Error-Message': message };
    if (code) headers['X-Error-Code'] = code;
    res.writeHead(status, headers);
    res.end(JSON.stringify({ error: message }));
  }

  /** Checks auth and access; returns the repo or undefined when an error was sent. */
  private access(req: http.IncomingMessage, res: http.ServerResponse, id: string): FakeRepo | undefined {
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (token !== undefined && !this.tokens.has(token)) {
      this.fail(res, 401, undefined, 'Invalid credentials in Authorization header');
      return undefined;
    }
    const repo = this.repos.get(id);
    if (!repo) {
      this.fail(res, token ? 404 : 401, 'RepoNotFound', 'Repository Not Found');
      return undefined;
    }
    if (repo.gated && !(token && repo.allowed?.includes(token))) {
      this.fail(res, token ? 403 : 401, 'GatedRepo', `Access to model ${id} is restricted. You must have access to it and be authenticated to access it.`);
      return undefined;
    }
    return repo;
  }

  private revision(res: http.ServerResponse, repo: FakeRepo, rev: string): boolean {
    if (rev === 'main' || rev === 'HEAD' || rev === repo.commit) return true;
    this.fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    return false;
  }

  private entry(f: FakeRepoFile, repo: FakeRepo, expand: boolean) {
    const base: Record<string, unknown> = { type: 'file', oid: gitOid(isLfs(f.path) ? this.pointer(f) : f.bytes), size: f.bytes.length, path: f.path };
    if (isLfs(f.path)) base.lfs = { oid: sha256(f.bytes), size: f.bytes.length, pointerSize: this.pointer(f).length };
    if (expand) base.lastCommit = { id: repo.commit, title: 'Upload', date: '2025-01-01T00:00:00.000Z' };
    return base;
  }

  private pointer(f: FakeRepoFile): Buffer {
    return Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(f.bytes)}\nsize ${f.bytes.length}\n`);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({ method: req.method ?? 'GET', url: url.pathname + url.search, range: req.headers.range, authorized: !!req.headers.authorization });
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);

    if (parts[0] === 'api' && parts[1] === 'models') {
      const id = `${parts[2]}/${parts[3]}`;
      const repo = this.access(req, res, id);
      if (!repo) return;
      const kind = parts[4];
      const rev = parts[5] ?? 'main';
      if (!this.revision(res, repo, rev)) return;
      if (kind === 'revision') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            _id: sha256(Buffer.from(id)).slice(0, 24),
            id,
            sha: repo.commit,
            private: false,
            gated: repo.gated ? 'manual' : false,
            pipeline_tag: 'text-generation',
            downloads: 0,
            likes: 0,
            lastModified: '2025-01-01T00:00:00.000Z',
            siblings: repo.files.map((f) => ({ rfilename: f.path })),
          }),
        );
        return;
      }
      if (kind === 'tree') {
        const dir = parts.slice(6).join('/');
        const recursive = url.searchParams.get('recursive') === 'true';
        const inDir = repo.files.filter((f) => (dir ? f.path.startsWith(dir + '/') : true));
        const rel = (p: string) => (dir ? p.slice(dir.length + 1) : p);
        const files = inDir.filter((f) => recursive || !rel(f.path).includes('/'));
        const dirs = new Set<string>();
        for (const f of inDir) {
          const segs = rel(f.path).split('/');
          for (let i = 1; i < segs.length; i++) if (recursive || i === 1) dirs.add((dir ? dir + '/' : '') + segs.slice(0, i).join('/'));
        }
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify([...[...dirs].map((d) => ({ type: 'directory', oid: gitOid(Buffer.from(d)), size: 0, path: d })), ...files.map((f) => this.entry(f, repo, url.searchParams.get('expand') === 'true'))]));
        return;
      }
      if (kind === 'paths-info' && req.method === 'POST') {
        const body = JSON.parse(await readBody(req)) as { paths: string[]; expand?: boolean };
        const found = repo.files.filter((f) => body.paths.includes(f.path));
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(found.map((f) => this.entry(f, repo, !!body.expand))));
        return;
      }
      this.fail(res, 404, undefined, 'Not found');
      return;
    }

    if (parts[0] === 'lfs') {
      const oid = parts[1];
      for (const repo of this.repos.values()) {
        const f = repo.files.find((x) => sha256(x.bytes) === oid);
        if (f) return this.sendBytes(req, res, f, repo, { ETag: `"${oid}"` }, true);
      }
      res.writeHead(404);
      res.end();
      return;
    }

    // /{org}/{name}/resolve/{rev}/{path...}
    if (parts[2] === 'resolve') {
      const id = `${parts[0]}/${parts[1]}`;
      const repo = this.access(req, res, id);
      if (!repo) return;
      if (!this.revision(res, repo, parts[3])) return;
      const path = parts.slice(4).join('/');
      const f = repo.files.find((x) => x.path === path);
      if (!f) return this.fail(res, 404, 'EntryNotFound', `${path} does not exist on "${parts[3]}"`);
      if (this.failOnce.has(path)) {
        this.failOnce.delete(path);
        return this.fail(res, 503, undefined, 'Service Unavailable');
      }
      if (isLfs(path)) {
        const oid = sha256(f.bytes);
        res.writeHead(302, {
          Location: `/lfs/${oid}?repo=${encodeURIComponent(id)}&path=${encodeURIComponent(path)}`,
          'X-Repo-Commit': repo.commit,
          'X-Linked-Etag': `"${oid}"`,
          'X-Linked-Size': String(f.bytes.length),
          ETag: `"${gitOid(this.pointer(f))}"`,
        });
        res.end();
        return;
      }
      return this.sendBytes(req, res, f, repo, { ETag: `"${gitOid(f.bytes)}"`, 'X-Repo-Commit': repo.commit }, false);
    }
    res.writeHead(404);
    res.end();
  }

  private async sendBytes(req: http.IncomingMessage, res: http.ServerResponse, f: FakeRepoFile, _repo: FakeRepo, headers: Record<string, string>, lfs: boolean): Promise<void> {
    let bytes = f.bytes;
    if (this.corrupt.has(f.path)) {
      bytes = Buffer.from(bytes);
      bytes[bytes.length >> 1] ^= 0xff;
    }
    let start = 0;
    let end = bytes.length - 1;
    let status = 200;
    const range = req.headers.range?.match(/^bytes=(\d+)-(\d*)$/);
    if (range) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(end, Number(range[2]));
      if (start >= bytes.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` });
        res.end();
        return;
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${bytes.length}`;
    }
    res.writeHead(status, { ...headers, 'Content-Length': String(end - start + 1), 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' });
    if (req.method === 'HEAD') return void res.end();
    const body = bytes.subarray(start, end + 1);
    const key = sha256(f.bytes);
    const chunk = 64 * 1024;
    for (let off = 0; off < body.length; off += chunk) {
      if (res.destroyed) return;
      const piece = body.subarray(off, off + chunk);
      const ok = res.write(piece);
      if (lfs) this.sentBytes.set(key, (this.sentBytes.get(key) ?? 0) + piece.length);
      if (this.throttle && lfs) await sleep((piece.length / this.throttle) * 1000);
      else if (!ok) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.on('data', (c) => (s += c));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}
