/**
 * The end-to-end test transport: serves a renderer that electron-vite built (session.ts: builtRenderer) on
 * 127.0.0.1 and answers the bridge's calls with the app's real handlers (dispatch validates each
 * request against the contract, as ipc.ts does); events go out as Server-Sent Events.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { build } from 'esbuild';
import type { EventName } from '../../src/shared/contract.js';
import { dispatch } from '../../src/main/dispatch.js';
import type { Handlers } from '../../src/main/handlers.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

export interface TestServer {
  url: string;
  /** Calls answered, by name (what the page asked for). */
  calls: string[];
  close(): Promise<void>;
}

export async function startServer(opts: {
  handlers: Handlers;
  rendererDir: string;
  /** Registers a function that receives every event the handlers emit. */
  onEvent: (l: (name: EventName, payload: unknown) => void) => void;
}): Promise<TestServer> {
  const clients = new Set<http.ServerResponse>();
  const calls: string[] = [];
  opts.onEvent((name, payload) => {
    const line = `data: ${JSON.stringify({ name, payload })}\n\n`;
    for (const c of clients) c.write(line);
  });

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    try {
      if (req.method === 'POST' && url.pathname.startsWith('/rpc/')) {
        const name = decodeURIComponent(url.pathname.slice(5));
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        calls.push(name);
        const env = await dispatch(opts.handlers, name, JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(env));
        return;
      }
      if (req.method === 'GET' && url.pathname === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
        res.write(': connected\n\n');
        clients.add(res);
        req.on('close', () => clients.delete(res));
        return;
      }
      if (req.method === 'GET') {
        const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
        const file = path.resolve(opts.rendererDir, rel);
        if (!file.startsWith(path.resolve(opts.rendererDir) + path.sep) || !(await stat(file).then((s) => s.isFile(), () => false))) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
        createReadStream(file).pipe(res);
        return;
      }
      res.writeHead(405).end();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    async close() {
      for (const c of clients) c.end();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The bridge script for page.addInitScript, bundled from bridge.ts. */
export async function bridgeScript(): Promise<string> {
  const out = await build({
    entryPoints: [path.join(import.meta.dirname, 'bridge.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}
