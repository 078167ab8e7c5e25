/**
 * `attune serve` through the official `openai` npm client against 127.0.0.1: models, chat
 * completions (plain and streamed, the same text as Attune's own ChatSession), OpenAI-style errors
 * for bad requests, 8 concurrent requests queued and all answered, local-only, graceful close.
 */
import http from 'node:http';
import { rmSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatSession } from '../../../src/engine/generate/chat-session.js';
import { startServer, type RunningServer } from '../../../src/engine/serve/index.js';
import { HELD_OUT_NAMES, THINGS, instructionFor } from '../../helpers/instruction-data.js';
import { STORIES260K_HF_DIR } from '../../helpers/tiny-model.js';
import { tempDir, trainStoriesAdapter } from '../export/fixtures.js';

const tmp = tempDir('attune-serve-');
process.env.ATTUNE_CACHE_DIR = path.join(tmp, 'cache');
let adapterDir: string;
let server: RunningServer;
let client: OpenAI;
let reference: ChatSession;
const logLines: string[] = [];

beforeAll(async () => {
  adapterDir = await trainStoriesAdapter(tmp);
  server = await startServer({ modelPath: STORIES260K_HF_DIR, adapterDir, port: 0, threads: 1, onLog: (l) => logLines.push(l) });
  client = new OpenAI({ baseURL: server.url, apiKey: 'not-needed', maxRetries: 0 });
  reference = await ChatSession.open({ modelPath: STORIES260K_HF_DIR, adapterDir, device: 'cpu', threads: 1 });
}, 120_000);
afterAll(async () => {
  await server?.close();
  await reference?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const ask = (name: string, thing: string) => [{ role: 'user' as const, content: instructionFor(name, thing) }];
const expectedText = async (messages: { role: 'user'; content: string }[], maxTokens = 48) => (await reference.generate(messages, { maxTokens, temperature: 0 })).text;

/** A raw request, for what the client library would not send. */
function raw(method: string, urlPath: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path: urlPath, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = text; }
        resolve({ status: res.statusCode!, json, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('OpenAI-compatible server', () => {
  it('listens on 127.0.0.1 and lists the one model it serves', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([server.modelId]);
    expect(server.modelId).toBe('run');
    expect((await client.models.retrieve('run')).owned_by).toBe('attune');
  });

  it('answers a chat completion with the tuned model, exactly as Attune chat does', async () => {
    const messages = ask('Mary', 'ball');
    const r = await client.chat.completions.create({ model: server.modelId, messages, max_tokens: 48 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0]!.message.role).toBe('assistant');
    expect(r.choices[0]!.message.content).toBe(await expectedText(messages));
    expect(r.choices[0]!.message.content).toMatch(/^Dear /);
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(r.usage!.completion_tokens).toBeGreaterThan(5);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens);
    const short = await client.chat.completions.create({ model: server.modelId, messages, max_tokens: 3 });
    expect(short.choices[0]!.finish_reason).toBe('length');
    expect(short.usage!.completion_tokens).toBe(3);
  });

  it('streams the same answer as server-sent chunks, with usage on request, ending with [DONE]', async () => {
    const messages = ask('Paul', 'boat');
    const stream = await client.chat.completions.create({ model: server.modelId, messages, max_tokens: 48, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(await expectedText(messages));
    expect(chunks.length).toBeGreaterThan(5);
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finish.map((c) => c.choices[0]!.finish_reason)).toEqual(['stop']);
    expect(chunks.at(-1)!.usage!.completion_tokens).toBeGreaterThan(5);
  });

  it('8 concurrent requests (streamed and not) are queued and all answered correctly', async () => {
    const jobs = Array.from({ length: 8 }, (_, i) => ({ messages: ask(HELD_OUT_NAMES[i]!, THINGS[i]!), stream: i % 2 === 1 }));
    const answers = await Promise.all(jobs.map(async (j) => {
      if (!j.stream) return (await client.chat.completions.create({ model: server.modelId, messages: j.messages, max_tokens: 32 })).choices[0]!.message.content;
      let text = '';
      for await (const c of await client.chat.completions.create({ model: server.modelId, messages: j.messages, max_tokens: 32, stream: true })) text += c.choices[0]?.delta.content ?? '';
      return text;
    }));
    for (const [i, j] of jobs.entries()) expect(answers[i]).toBe(await expectedText(j.messages, 32));
    expect(server.stats()).toMatchObject({ queued: 0, running: false });
  });

  it('refuses bad requests with OpenAI-style JSON errors', async () => {
    const bad = await client.chat.completions.create({ model: server.modelId, messages: 'hello' as never }).catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.status).toBe(400);
    expect(bad.error).toMatchObject({ type: 'invalid_request_error', param: 'messages' });
    const badRole = await client.chat.completions.create({ model: server.modelId, messages: [{ role: 'tool', content: 'x', tool_call_id: '1' }] }).catch((e) => e);
    expect(badRole.error).toMatchObject({ param: 'messages[0].role' });
    const badTemp = await client.chat.completions.create({ model: server.modelId, messages: ask('Eve', 'cat'), temperature: 7 }).catch((e) => e);
    expect(badTemp.error).toMatchObject({ param: 'temperature', type: 'invalid_request_error' });
    expect((await client.models.retrieve('gpt-4o').catch((e) => e)).status).toBe(404);

    const malformed = await raw('POST', '/v1/chat/completions', '{"messages": [');
    expect(malformed.status).toBe(400);
    expect(malformed.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json', param: null });
    expect(typeof malformed.json.error.message).toBe('string');
    const unknown = await raw('GET', '/v1/embeddings');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('unknown_url');
    const wrongMethod = await raw('GET', '/v1/chat/completions');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('POST');
    const huge = await raw('POST', '/v1/chat/completions', Buffer.alloc(2 * 1024 * 1024, 32));
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe('request_too_large');
    const long = await raw('POST', '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'Once upon a time '.repeat(200) }], stream: true }));
    expect(long.status).toBe(400);
    expect(long.json.error.code).toBe('context_length_exceeded');
    // The server is still fine.
    expect((await client.chat.completions.create({ model: server.modelId, messages: ask('Mary', 'cat'), max_tokens: 4 })).choices).toHaveLength(1);
  });

  it('stays local: other hosts, web pages and foreign Host headers are refused', async () => {
    await expect(startServer({ modelPath: STORIES260K_HF_DIR, host: '0.0.0.0' })).rejects.toMatchObject({ code: 'serve-host' });
    expect((await raw('GET', '/v1/models', undefined, { host: 'attacker.example:80' })).status).toBe(403);
    expect((await raw('GET', '/v1/models', undefined, { origin: 'https://attacker.example' })).status).toBe(403);
    expect((await raw('GET', '/v1/models', undefined, { host: `localhost:${server.port}` })).status).toBe(200);
  });

  it('a client that leaves mid-stream cancels its answer; the next request is served', async () => {
    const ctl = new AbortController();
    const stream = await client.chat.completions.create({ model: server.modelId, messages: ask('Lisa', 'tree'), max_tokens: 200, stream: true }, { signal: ctl.signal });
    let n = 0;
    // The client library ends the iteration quietly on abort.
    await (async () => { for await (const _ of stream) if (++n === 2) ctl.abort(); })().catch(() => undefined);
    expect(n).toBeLessThan(10);
    for (let i = 0; i < 100 && server.stats().running; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.stats().running).toBe(false);
    const r = await client.chat.completions.create({ model: server.modelId, messages: ask('Mark', 'car'), max_tokens: 48 });
    expect(r.choices[0]!.message.content).toBe(await expectedText(ask('Mark', 'car')));
  });

  it('closes gracefully: the answer in progress finishes, waiting ones get 503, then the port is free', async () => {
    const s = await startServer({ modelPath: STORIES260K_HF_DIR, adapterDir, port: 0, threads: 1, closeGraceMs: 10_000 });
    const c = new OpenAI({ baseURL: s.url, apiKey: 'x', maxRetries: 0 });
    const first = c.chat.completions.create({ model: s.modelId, messages: ask('Nick', 'dog'), max_tokens: 48 });
    const waiting = Array.from({ length: 6 }, () => c.chat.completions.create({ model: s.modelId, messages: ask('Jane', 'cake'), max_tokens: 48 }).catch((e) => e));
    for (let i = 0; i < 500 && s.stats().queued < 5; i++) await new Promise((r) => setImmediate(r));
    expect(s.stats().running).toBe(true);
    await s.close();
    expect((await first).choices[0]!.message.content).toBe(await expectedText(ask('Nick', 'dog')));
    const refused = (await Promise.all(waiting)).filter((e) => e instanceof OpenAI.APIError && e.status !== undefined);
    expect(refused.length).toBeGreaterThanOrEqual(5);
    for (const e of refused) expect(e).toMatchObject({ status: 503, error: { code: 'server_shutting_down' } });
    await expect(fetch(`${s.url}/models`)).rejects.toThrow();
    expect(logLines.some((l) => /^POST \/v1\/chat\/completions 200 \d+ ms$/.test(l))).toBe(true);
  });
});
