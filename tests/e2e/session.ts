/**
 * One browser session on the built renderer with the real handlers behind it: what each
 * end-to-end walk needs (the wizard test sets up the same by hand). Builds the renderer once per
 * process unless ATTUNE_E2E_NO_BUILD=1 (a build already in out/renderer).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
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

let built = false;

export async function openSession(prefix: string): Promise<Session> {
  // Built without blocking the test process (a blocked worker misses vitest's calls on a busy machine).
  if (!built && process.env.ATTUNE_E2E_NO_BUILD !== '1') await promisify(execFile)(path.join(ROOT, 'node_modules/.bin/electron-vite'), ['build'], { cwd: ROOT });
  built = true;
  await mkdir(ARTIFACTS, { recursive: true });
  const app = await createTestApp();
  const server = await startServer({ handlers: app.handlers, rendererDir: path.join(ROOT, 'out', 'renderer'), onEvent: (l) => app.listeners.add(l) });
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
