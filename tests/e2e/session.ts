/**
 * One browser session on the built renderer with the real handlers behind it: what each
 * end-to-end walk needs (the wizard test sets up the same by hand). Builds the renderer once per
 * test file (builtRenderer).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll } from 'vitest';
import { createTestApp, ROOT, type TestApp } from '../app/harness.js';
import { bridgeScript, startServer, type TestServer } from './server.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'e2e');

export interface Session {
  app: TestApp;
  server: TestServer;
  page: Page;
  pageErrors: string[];
  requests: string[];
  shot(name: string): Promise<unknown>;
  /** The id of the focused element, or its tag and text when it has none. */
  focused(): Promise<string>;
  close(): Promise<void>;
}

let built: Promise<string> | undefined;
let buildDir: string | undefined;
// Test files load their modules afresh (vitest isolates them): the build is this file's.
afterAll(async () => {
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
});

/**
 * The renderer built once per test file, into a folder of its own: test files run in parallel
 * processes, and a build into the shared out/ empties it under another file's server (its pages
 * then failed to load). ATTUNE_E2E_NO_BUILD=1 serves a build already in out/renderer.
 */
export function builtRenderer(): Promise<string> {
  if (process.env.ATTUNE_E2E_NO_BUILD === '1') return Promise.resolve(path.join(ROOT, 'out', 'renderer'));
  built ??= (async () => {
    const out = (buildDir = await mkdtemp(path.join(os.tmpdir(), 'attune-e2e-build-')));
    // Built without blocking the test process (a blocked worker misses vitest's calls on a busy machine).
    await promisify(execFile)(path.join(ROOT, 'node_modules/.bin/electron-vite'), ['build', '--outDir', out], { cwd: ROOT, maxBuffer: 64 * 2 ** 20 });
    return path.join(out, 'renderer');
  })();
  return built;
}

export async function openSession(prefix: string): Promise<Session> {
  const rendererDir = await builtRenderer();
  await mkdir(ARTIFACTS, { recursive: true });
  const app = await createTestApp();
  const server = await startServer({ handlers: app.handlers, rendererDir, onEvent: (l) => app.listeners.add(l) });
  const profile = await mkdtemp(path.join(os.tmpdir(), 'attune-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    colorScheme: 'light',
  });
  await context.addInitScript({ content: await bridgeScript() });
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
  return {
    app,
    server,
    page,
    pageErrors,
    requests,
    shot: (name) => page.screenshot({ path: path.join(ARTIFACTS, `${prefix}-${name}.png`), fullPage: true }),
    focused: () =>
      page.evaluate<string>(
        "(() => { const el = document.activeElement; if (!el || el === document.body) return 'body'; return el.id || el.tagName.toLowerCase() + ':' + (el.textContent || '').trim().slice(0, 60); })()",
      ),
    async close() {
      await page.screenshot({ path: path.join(ARTIFACTS, `${prefix}-last.png`), fullPage: true }).catch(() => undefined);
      await context.close();
      await server.close();
      await app.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
