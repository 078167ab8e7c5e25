/**
 * Still offline: import, tune, chat, eval, export and serve, run as a person runs them (CLI,
 * child processes), with a preload (tests/helpers/no-network.cjs) that records and fails every
 * connection attempt outside the loopback. None may happen. The trap itself is checked first.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTinyModel } from '../helpers/tiny-model.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const work = mkdtempSync(path.join(os.tmpdir(), 'attune-offline-'));
const logFile = path.join(work, 'network-attempts.log');
const env = {
  ...process.env,
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${path.join(repoRoot, 'tests/helpers/no-network.cjs')}`.trim(),
  ATTUNE_NO_NETWORK_LOG: logFile,
  ATTUNE_CACHE_DIR: path.join(work, 'cache'),
  HOME: work,
  HF_HUB_CACHE: path.join(work, 'hf'),
};
afterAll(() => rmSync(work, { recursive: true, force: true }));

function node(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: repoRoot, env, maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
const attune = (args: string[]) => node(['bin/attune.mjs', ...args]);
const attempts = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');

describe('no network outside the loopback', () => {
  it('the trap catches a connection attempt', async () => {
    const r = await node(['-e', "fetch('http://example.com/').then(() => process.exit(0), () => process.exit(3))"]);
    expect(r.code).toBe(3);
    expect(attempts()).toMatch(/(connect|dns) example\.com/);
    rmSync(logFile);
  });

  it('import, tune, chat, eval, export and serve never try to connect anywhere', async () => {
    const model = path.join(work, 'tiny');
    writeTinyModel(model, 'llama');
    const raw = path.join(work, 'examples.jsonl');
    const rows = Array.from({ length: 12 }, (_, i) => JSON.stringify({ instruction: `Say the number ${i}.`, output: `The number is ${i}.` }));
    writeFileSync(raw, rows.join('\n') + '\n');
    const data = path.join(work, 'data.jsonl');
    const run = path.join(work, 'run');

    const steps: [string, string[]][] = [
      ['import', ['data', 'import', raw, '--out', data, '--json']],
      ['tune', ['tune', '--model', model, '--data', data, '--out', run, '--max-steps', '2', '--batch-size', '2', '--template', 'alpaca', '--json']],
      ['chat', ['chat', '--model', model, '--adapter', path.join(run, 'adapter'), '--prompt', 'Say the number 3.', '--max-tokens', '4', '--json']],
      ['eval', ['eval', '--model', model, '--adapter', path.join(run, 'adapter'), '--n', '2', '--max-tokens', '4', '--json']],
      ['export', ['export', '--model', model, '--adapter', path.join(run, 'adapter'), '--format', 'peft', '--out', path.join(work, 'export'), '--json']],
    ];
    for (const [name, args] of steps) {
      const r = await attune(args);
      expect(r.code, `${name}: ${r.stderr}${r.stdout.slice(-2000)}`).toBe(0);
      expect(attempts(), name).toBe('');
    }

    // serve: answers a request on 127.0.0.1 (loopback is allowed) and makes no other connection.
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const child = spawn(process.execPath, ['bin/attune.mjs', 'serve', '--model', model, '--adapter', path.join(run, 'adapter'), '--port', String(port), '--json'], { cwd: repoRoot, env });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let buf = '';
        child.stdout.on('data', (d) => {
          buf += d;
          const m = buf.match(/"url":"([^"]+)"/);
          if (m) resolve(m[1]);
        });
        child.on('exit', (c) => reject(new Error(`serve exited (${c}): ${stderr}`)));
      });
      const res = await fetch(`${url}/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'Say the number 3.' }], max_tokens: 3 }) });
      expect(res.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('close', r));
    }
    expect(attempts(), 'serve').toBe('');
  }, 600_000);
});
