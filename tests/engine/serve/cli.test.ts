/** `attune serve` as a real process: prints where it listens, answers, stops cleanly on SIGINT. */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { STORIES260K_HF_DIR } from '../../helpers/tiny-model.js';
import { tempDir } from '../export/fixtures.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const tmp = tempDir('attune-serve-cli-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const freePort = () => new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const port = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(port));
  });
});

describe('attune serve (process)', () => {
  it('serves /v1/models and /v1/chat/completions, then stops on SIGINT with exit code 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['bin/attune.mjs', 'serve', '--model', STORIES260K_HF_DIR, '--port', String(port), '--json', '--threads', '1'], {
      cwd: ROOT, env: { ...process.env, ATTUNE_CACHE_DIR: path.join(tmp, 'cache') }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.includes('"listening"'));
        if (line) resolve(JSON.parse(line));
      });
      child.on('exit', () => reject(new Error(`serve exited early: ${err}`)));
    });
    expect(listening).toMatchObject({ url: `http://127.0.0.1:${port}/v1`, port, model: 'stories260K-hf' });
    const models = (await (await fetch(`http://127.0.0.1:${port}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data[0].id).toBe('stories260K-hf');
    const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 8 }) });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBeGreaterThan(0);
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exit).toBe(0);
    expect(out).toContain('"type":"stopped"');
    expect(out).toMatch(/"line":"POST \/v1\/chat\/completions 200 \d+ ms"/);
  }, 60_000);

  it('a port in use is a plain one-line error', async () => {
    const blocker = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const child = spawn(process.execPath, ['bin/attune.mjs', 'serve', '--model', STORIES260K_HF_DIR, '--port', String(port)], {
      cwd: ROOT, env: { ...process.env, ATTUNE_CACHE_DIR: path.join(tmp, 'cache') }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    blocker.close();
    expect(code).toBe(1);
    expect(err.trim()).toBe(`attune: Port ${port} is already in use on 127.0.0.1; choose another with --port.`);
  }, 60_000);
});
