/**
 * End to end: a fresh installation's first window, in Debian's Chromium over the test transport
 * (server.ts + bridge.ts) with the real handlers. The person is asked where to keep projects,
 * takes the suggested Documents/Attune, sees the sample and what Attune will do, starts with the
 * sample and reaches its report in the Data step. Every request the page makes stays on
 * 127.0.0.1 (the window works with the network cable pulled). Screenshots: test-artifacts/e2e/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, ROOT, type TestApp } from '../app/harness.js';
import { bridgeScript, startServer, type TestServer } from './server.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'e2e');
if (!existsSync(CHROMIUM)) console.warn('Chromium is missing: apt-get install -y chromium');

describe.skipIf(!existsSync(CHROMIUM))('the first run, end to end', () => {
  let app: TestApp;
  let server: TestServer;
  let context: BrowserContext;
  let page: Page;
  let tmp: string;
  let docs: string;
  const requests: string[] = [];
  const pageErrors: string[] = [];
  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `first-run-${name}.png`), fullPage: true });

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'attune-first-run-e2e-'));
    docs = path.join(tmp, 'Documents');
    await mkdir(docs);
    // Its own build, so that other tests building out/ at the same time cannot disturb it.
    execFileSync(path.join(ROOT, 'node_modules/.bin/electron-vite'), ['build', '--outDir', path.join(tmp, 'out')], { cwd: ROOT, stdio: 'pipe' });
    await mkdir(ARTIFACTS, { recursive: true });
    app = await createTestApp({ firstRun: true, documentsDir: docs });
    server = await startServer({ handlers: app.handlers, rendererDir: path.join(tmp, 'out', 'renderer'), onEvent: (l) => app.listeners.add(l) });
    context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
      colorScheme: 'light',
    });
    await context.addInitScript({ content: await bridgeScript() });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
  }, 300_000);

  afterAll(async () => {
    await page?.screenshot({ path: path.join(ARTIFACTS, 'first-run-last.png'), fullPage: true }).catch(() => undefined);
    await context?.close();
    await server?.close();
    await app?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  });

  it('asks where to keep projects, shows the sample and what Attune does, and reaches the sample data', async () => {
    await page.goto(server.url);
    await page.getByRole('heading', { name: 'Welcome to Attune' }).waitFor();
    await page.getByRole('heading', { name: 'What Attune will do' }).waitFor();
    expect(await page.getByRole('listitem').filter({ hasText: 'Let you pick a model to teach' }).count()).toBe(1);
    expect(await page.getByTestId('suggested-folder').textContent()).toBe(path.join(docs, 'Attune'));
    // Nothing is written before the person answers.
    expect(await readdir(docs)).toEqual([]);
    await shot('1-welcome');

    // A cancelled folder dialog changes nothing; the suggested folder is taken.
    app.dialogAnswers.push(null);
    await page.getByRole('button', { name: 'Choose another folder…' }).click();
    expect(await page.getByTestId('chosen-folder').count()).toBe(0);
    await page.getByRole('button', { name: 'Use this folder' }).click();

    // The sample, and where the Model step's list comes in.
    await page.getByRole('heading', { name: 'Try it with the sample first' }).waitFor();
    expect(await page.getByTestId('sample-summary').textContent()).toMatch(/^Attune comes with 330 example conversations from the customer service of Juniper Lane/);
    expect(await page.locator('.sample-preview li').count()).toBe(3);
    expect(await page.getByText(/step 2 lists small models that suit this computer/).count()).toBe(1);
    expect((await readdir(path.join(docs, 'Attune'))).sort()).toEqual(['models', 'projects']);
    await shot('2-sample');

    await page.getByRole('button', { name: 'Start with the sample' }).click();
    await page.getByRole('heading', { name: 'Step 1 of 5: Data' }).waitFor();
    expect(await page.getByText('Customer service sample', { exact: true }).count()).toBe(1);
    await page.getByRole('button', { name: /Use the sample/ }).click();
    const summary = page.getByTestId('report-summary');
    await summary.waitFor({ timeout: 60_000 });
    expect(await summary.textContent()).toMatch(/Read 330 rows: 330 ready to use/);
    await shot('3-sample-data');
    expect(await readdir(path.join(docs, 'Attune', 'projects'))).toEqual(['Customer service sample']);

    // Opened again (a new window: a reload would come back to the open project), the app goes
    // straight to the projects, in the folder chosen.
    const first = page;
    page = await context.newPage();
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await first.close();
    await page.goto(server.url);
    await page.getByRole('heading', { name: /Teach a small language model/ }).waitFor();
    expect(await page.getByTestId('projects-folder').textContent()).toBe(path.join(docs, 'Attune'));
    await page.getByRole('button', { name: 'Open “Customer service sample”' }).waitFor();
    expect(await page.getByRole('heading', { name: 'Welcome to Attune' }).count()).toBe(0);
    await shot('4-projects');

    // No request left the machine, and the page logged no error.
    const origin = new URL(server.url).origin;
    expect(requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:'))).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 180_000);
});
