/**
 * `attune serve`: an OpenAI-compatible chat server for a base model (+ adapter), so help-desk
 * tools that speak that API can use the tuned model. Plain node:http, bound to 127.0.0.1 only;
 * one ChatSession answers requests one at a time from a FIFO queue; streaming is SSE in OpenAI's
 * chunk format.
 *
 *   GET  /v1/models                the one model served
 *   GET  /v1/models/{id}
 *   POST /v1/chat/completions      stream true/false
 *   GET  /health
 *
 * Local-only on purpose: no CORS, requests whose Host is not the loopback address are refused
 * (DNS rebinding), and so are requests from web pages (an Origin header not on loopback).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { AttuneError, isAttuneError } from '../../shared/errors.js';
import { ChatSession } from '../generate/chat-session.js';
import type { DeviceChoice } from '../runtime/devices.js';
import { ApiError, chunkBody, completionBody, parseChatRequest, usage, type ChatRequest, type FinishReason } from './openai.js';

export interface ServeOptions {
  modelPath: string;
  adapterDir?: string;
  /** 0 or absent: a free port chosen by the system. */
  port?: number;
  /** Only the loopback address is allowed: '127.0.0.1' (default) or 'localhost'. */
  host?: string;
  /** The id clients see in /v1/models (default: the adapter's run folder or the model's name). */
  modelId?: string;
  device?: DeviceChoice;
  threads?: number;
  /** Temperature when a request gives none (default 0: deterministic, like `attune chat`). */
  defaultTemperature?: number;
  /** Longest answer when a request gives no max_tokens (default 512). */
  defaultMaxTokens?: number;
  /** Requests waiting behind the running one before new ones get 429 (default 64). */
  maxQueue?: number;
  /** Largest request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** How long close() lets a running answer finish before cancelling it (default 2 s). */
  closeGraceMs?: number;
  /** An already opened chat session (the app's); the server does not close it. */
  session?: ChatSession;
  /** One line per request, for a log. */
  onLog?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  modelId: string;
  /** Requests answered or refused so far, and the queue now. */
  stats(): { served: number; failed: number; queued: number; running: boolean };
  close(): Promise<void>;
}

interface Job {
  run: (signal: AbortSignal) => Promise<void>;
  signal: AbortSignal;
  reject: (e: unknown) => void;
  resolve: () => void;
}

/** One generation at a time, in arrival order; a job whose client left is skipped. */
class FifoQueue {
  private readonly waiting: Job[] = [];
  running = false;
  private current?: AbortController;
  constructor(private readonly max: number) {}

  get length(): number {
    return this.waiting.length;
  }

  push(run: Job['run'], signal: AbortSignal): Promise<void> {
    if (this.waiting.length >= this.max) {
      return Promise.reject(new ApiError(429, `The server is busy: ${this.waiting.length} requests are already waiting. Try again shortly.`, 'rate_limit_error', null, 'queue_full'));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ run, signal, resolve, reject });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let job = this.waiting.shift(); job; job = this.waiting.shift()) {
        if (job.signal.aborted) { job.resolve(); continue; }
        const ctl = new AbortController();
        this.current = ctl;
        const onAbort = () => ctl.abort();
        job.signal.addEventListener('abort', onAbort, { once: true });
        try {
          await job.run(ctl.signal);
          job.resolve();
        } catch (e) {
          job.reject(e);
        } finally {
          job.signal.removeEventListener('abort', onAbort);
          this.current = undefined;
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Refuses everything still waiting; cancels the running job after `graceMs`. */
  async drain(graceMs: number): Promise<void> {
    for (const job of this.waiting.splice(0)) job.reject(new ApiError(503, 'The server is shutting down.', 'server_error', null, 'server_shutting_down'));
    const deadline = Date.now() + graceMs;
    while (this.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.current?.abort();
    while (this.running) await new Promise((r) => setTimeout(r, 10));
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost']);

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const host = o.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host)) {
    throw new AttuneError('serve.host', { host }, { field: 'host' });
  }
  const port = o.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AttuneError('serve.port', { port }, { field: 'port' });
  const ownSession = !o.session;
  const session = o.session ?? (await ChatSession.open({ modelPath: o.modelPath, adapterDir: o.adapterDir, device: o.device, threads: o.threads }));
  const modelId = o.modelId ?? defaultModelId(o.modelPath, o.adapterDir);
  const created = Math.floor(Date.now() / 1000);
  const queue = new FifoQueue(o.maxQueue ?? 64);
  const maxBody = o.maxBodyBytes ?? 1024 * 1024;
  const log = o.onLog ?? (() => undefined);
  let served = 0, failed = 0;
  let closing = false;
  let boundPort = 0;

  const modelObject = { id: modelId, object: 'model' as const, created, owned_by: 'attune' };

  const sendJson = (res: http.ServerResponse, status: number, body: unknown) => {
    if (res.headersSent) { res.end(); return; }
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const sendError = (res: http.ServerResponse, e: unknown) => {
    failed++;
    const err = toApiError(e);
    if (res.headersSent) {
      // Mid-stream: OpenAI's clients read an error event from the stream.
      if (!res.writableEnded) res.end(`data: ${JSON.stringify(err.body())}\n\n`);
      return;
    }
    sendJson(res, err.status, err.body());
  };

  const server = http.createServer((req, res) => {
    const started = Date.now();
    res.on('finish', () => log(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started} ms`));
    handle(req, res).catch((e) => sendError(res, e));
  });
  server.keepAliveTimeout = 5000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const hostHeader = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    if (!LOOPBACK.has(hostHeader) && hostHeader !== '::1') throw new ApiError(403, `Requests must be addressed to 127.0.0.1, not ${req.headers.host ?? '(no host)'}.`, 'invalid_request_error', null, 'host_not_allowed');
    const origin = req.headers.origin;
    if (origin && !/^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(origin)) {
      throw new ApiError(403, 'Requests from web pages are not allowed: this server is for programs on this computer.', 'invalid_request_error', null, 'origin_not_allowed');
    }
    if (closing) throw new ApiError(503, 'The server is shutting down.', 'server_error', null, 'server_shutting_down');
    const p = url.pathname.replace(/\/+$/, '') || '/';
    const route = (methods: string[]) => {
      if (!methods.includes(req.method ?? '')) {
        res.setHeader('allow', methods.join(', '));
        throw new ApiError(405, `${req.method} is not allowed on ${p}; use ${methods.join(' or ')}.`, 'invalid_request_error', null, 'method_not_allowed');
      }
    };
    if (p === '/health') { route(['GET']); return sendJson(res, 200, { status: 'ok', model: modelId }); }
    if (p === '/v1/models') { route(['GET']); served++; return sendJson(res, 200, { object: 'list', data: [modelObject] }); }
    if (p.startsWith('/v1/models/')) {
      route(['GET']);
      const id = decodeURIComponent(p.slice('/v1/models/'.length));
      if (id !== modelId) throw new ApiError(404, `The model '${id}' does not exist; this server has '${modelId}'.`, 'invalid_request_error', 'model', 'model_not_found');
      served++;
      return sendJson(res, 200, modelObject);
    }
    if (p === '/v1/chat/completions') {
      route(['POST']);
      const body = await readJsonBody(req, maxBody);
      const request = parseChatRequest(body);
      const ctl = new AbortController();
      res.on('close', () => { if (!res.writableFinished) ctl.abort(); });
      await queue.push((signal) => answer(request, res, signal), ctl.signal);
      served++;
      return;
    }
    throw new ApiError(404, `Unknown request URL: ${req.method} ${url.pathname}.`, 'invalid_request_error', null, 'unknown_url');
  }

  async function answer(r: ChatRequest, res: http.ServerResponse, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const id = `chatcmpl-${randomBytes(12).toString('hex')}`;
    const now = Math.floor(Date.now() / 1000);
    const opts = {
      maxTokens: r.maxTokens ?? o.defaultMaxTokens ?? 512,
      temperature: r.temperature ?? o.defaultTemperature ?? 0,
      topP: r.topP,
      seed: r.seed,
      stop: r.stop,
    };
    const finish = (stoppedBy: string): FinishReason => (stoppedBy === 'max-tokens' ? 'length' : 'stop');
    if (!r.stream) {
      const result = await session.generate(r.messages, opts, { signal });
      if (signal.aborted) return;
      sendJson(res, 200, completionBody(id, modelId, now, result.text, finish(result.stoppedBy), usage(result.promptTokens, result.tokens.length)));
      return;
    }
    // Headers go out once the prompt is accepted, so a bad prompt still gets a plain JSON error.
    const promptIds = session.model.tokenizer.encodeChat(r.messages, { addGenerationPrompt: true });
    if (promptIds.length >= session.model.config.maxPositions) {
      throw new ApiError(400, `The conversation is ${promptIds.length} tokens long, but this model reads at most ${session.model.config.maxPositions}.`, 'invalid_request_error', 'messages', 'context_length_exceeded');
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (obj: unknown) => { if (!res.writableEnded) res.write(`data: ${JSON.stringify(obj)}\n\n`); };
    send(chunkBody(id, modelId, now, { role: 'assistant', content: '' }, null));
    const result = await session.generate(r.messages, opts, { signal, onText: (delta) => send(chunkBody(id, modelId, now, { content: delta }, null)) });
    if (signal.aborted) { res.end(); return; }
    send(chunkBody(id, modelId, now, {}, finish(result.stoppedBy)));
    if (r.includeUsage) send(chunkBody(id, modelId, now, {}, null, usage(result.promptTokens, result.tokens.length)));
    res.end('data: [DONE]\n\n');
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
    });
  } catch (e) {
    if (ownSession) await session.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new AttuneError('serve.port-in-use', { port }, { field: 'port' });
    if (code === 'EACCES') throw new AttuneError('serve.port-denied', { port }, { field: 'port' });
    throw e;
  }
  boundPort = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${boundPort}/v1`,
    port: boundPort,
    modelId,
    stats: () => ({ served, failed, queued: queue.length, running: queue.running }),
    close: () => {
      closed ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await queue.drain(o.closeGraceMs ?? 2000);
        server.closeAllConnections();
        await stopped;
        if (ownSession) await session.close();
      })();
      return closed;
    },
  };
}

function defaultModelId(modelPath: string, adapterDir?: string): string {
  const name = (p: string) => path.basename(path.resolve(p)).replace(/\.gguf$/i, '');
  if (!adapterDir) return name(modelPath);
  const a = path.resolve(adapterDir);
  // A run folder's adapter lives in <run>/adapter: the run's name says more.
  return path.basename(a) === 'adapter' ? path.basename(path.dirname(a)) : path.basename(a);
}

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (isAttuneError(e)) {
    if (e.code === 'prompt-too-long') return new ApiError(400, e.message, 'invalid_request_error', 'messages', 'context_length_exceeded');
    if (e.code === 'template-missing') return new ApiError(400, e.message, 'invalid_request_error', 'messages', 'template_missing');
    return new ApiError(500, e.message, 'server_error', null, e.code);
  }
  return new ApiError(500, `Something went wrong inside Attune: ${(e as Error)?.message ?? String(e)}`, 'server_error', null, 'internal_error');
}

function readJsonBody(req: http.IncomingMessage, max: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new ApiError(413, `The request body is larger than the limit of ${max} bytes.`, 'invalid_request_error', null, 'request_too_large');
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      req.resume(); // drain, so that the 413 reaches the client
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (over) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(new ApiError(400, `We could not parse the JSON body of your request (${(e as Error).message}).`, 'invalid_request_error', null, 'invalid_json'));
      }
    });
  });
}
