/**
 * End to end in Chromium: the Model step's three groups, and a download of a recommended model
 * from a stand-in Hub (tests/helpers/fake-hub.ts) through the bridge to the real engine: progress
 * bar, speed and time left, Cancel, then Resume continuing with a Range request, and the model
 * chosen on this computer once complete.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, ROOT, type TestApp } from '../app/harness.js';
import { FakeHub, repoFromFolder, sha256 } from '../helpers/fake-hub.js';
import { writeTinyModel } from '../helpers/tiny-model.js';
import { bridgeScript, startServer, type TestServer } from './server.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'e2e');
const REPO = 'HuggingFaceTB/SmolLM2-135M-Instruct';

describe.skipIf(!existsSync(CHROMIUM))('the Model step: catalog, download with progress, cancel and resume', () => {
  let app: TestApp;
  let server: TestServer;
  let context: BrowserContext;
  let page: Page;
  let hub: FakeHub;
  let home: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'attune-e2e-hub-'));
    // A tiny random model stands in for the catalog's SmolLM2-135M on the stand-in Hub.
    const src = path.join(home, 'src');
    writeTinyModel(src, 'llama', { hidden: 256, layers: 3, ffn: 768 });
    hub = new FakeHub([repoFromFolder(REPO, src)]);
    await hub.start();
    hub.throttle = 300_000;
    Object.assign(process.env, { HF_ENDPOINT: hub.url, HF_HUB_CACHE: path.join(home, 'hf'), HOME: home });
    delete process.env.HF_TOKEN;
    // Built asynchronously: a blocking build stalls this worker's messages to vitest on a busy machine.
    // Into its own folder: the wizard's end-to-end test may be building out/ at the same time.
    await promisify(execFile)(path.join(ROOT, 'node_modules/.bin/electron-vite'), ['build', '--outDir', path.join(home, 'build')], { cwd: ROOT, maxBuffer: 64 * 2 ** 20 });
    await mkdir(ARTIFACTS, { recursive: true });
    app = await createTestApp();
    server = await startServer({ handlers: app.handlers, rendererDir: path.join(home, 'build', 'renderer'), onEvent: (l) => app.listeners.add(l) });
    context = await chromium.launchPersistentContext(path.join(home, 'profile'), {
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
    await context.addInitScript({ content: await bridgeScript() });
    page = context.pages()[0] ?? (await context.newPage());
  }, 240_000);

  afterAll(async () => {
    await page?.screenshot({ path: path.join(ARTIFACTS, 'catalog-last.png'), fullPage: true }).catch(() => undefined);
    await context?.close();
    await server?.close();
    await app?.close();
    await hub?.stop();
    process.env = saved;
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('downloads a recommended model with progress, cancels, resumes and chooses it', async () => {
    await page.goto(server.url);
    await page.getByLabel('Project name').fill('Catalog');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('button', { name: /Use the sample/ }).click();
    await page.getByRole('button', { name: /^Import \d+ examples$/ }).click();
    await page.getByText(/^Imported: \d+ examples to learn from/).waitFor();
    await page.getByRole('button', { name: 'Next: choose a model' }).click();
    await page.getByRole('heading', { name: 'Step 2 of 5: Model' }).waitFor();

    // Three groups.
    await page.getByText('On this computer').or(page.getByText(/No models on this computer yet/)).first().waitFor();
    await page.getByRole('heading', { name: 'Recommended to download' }).waitFor();

    // Download from: a typed address that is not http(s) is refused in words; the stand-in Hub's address is kept.
    const from = page.getByLabel('Download from:');
    await from.fill('huggingface.co');
    await page.getByRole('button', { name: 'Use this address' }).click();
    await page.getByRole('alert').filter({ hasText: '"huggingface.co" is not a web address' }).waitFor();
    await from.fill(hub.url);
    await page.getByRole('button', { name: 'Use this address' }).click();
    await page.getByText(`Models will be downloaded from ${hub.url}.`).waitFor();
    expect((await app.handlers['settings.get']({})).hubEndpoint).toBe(hub.url);
    await page.getByRole('heading', { name: 'Add from disk' }).waitFor();
    const card = page.getByTestId(`catalog-${REPO}`);
    await card.waitFor();
    expect(await card.textContent()).toMatch(/apache-2\.0/);
    expect(await page.getByTestId('model-catalog').textContent()).toContain('meta-llama/Llama-3.2-1B-Instruct');
    await page.screenshot({ path: path.join(ARTIFACTS, 'catalog-0.png'), fullPage: true });

    // Download: a progress bar with bytes, speed and time left; the app says it is downloading.
    await card.getByRole('button', { name: 'Download' }).click();
    await page.getByTestId('downloading-banner').waitFor();
    const status = card.getByTestId('download-status');
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toMatch(/of .* · .*\/s · .* left/);
    await expect.poll(async () => Number(await card.getByRole('progressbar').getAttribute('value')), { timeout: 30_000 }).toBeGreaterThan(200_000);
    await page.screenshot({ path: path.join(ARTIFACTS, 'catalog-1-downloading.png'), fullPage: true });

    // Cancel: the partial file stays, the card offers to resume.
    await card.getByRole('button', { name: 'Cancel download' }).click();
    await card.getByText(/The download of .* was cancelled; pull again to continue where it stopped\./).waitFor();
    await card.getByRole('button', { name: 'Resume download' }).waitFor();
    const blobs = path.join(home, 'hf', `models--${REPO.replace('/', '--')}`, 'blobs');
    const partial = readdirSync(blobs).find((f) => f.endsWith('.incomplete'))!;
    const kept = statSync(path.join(blobs, partial)).size;
    expect(kept).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'catalog-2-cancelled.png'), fullPage: true });

    // Resume: continues from the partial file and ends with the model chosen on this computer.
    hub.throttle = undefined;
    const before = hub.requests.length;
    await card.getByRole('button', { name: 'Resume download' }).click();
    await expect.poll(() => page.getByTestId(`catalog-${REPO}`).count(), { timeout: 60_000 }).toBe(0);
    const oid = partial.replace('.incomplete', '');
    expect(hub.requests.slice(before).filter((r) => r.url.startsWith(`/lfs/${oid}`)).map((r) => r.range)).toEqual([`bytes=${kept}-`]);
    expect(existsSync(path.join(blobs, oid))).toBe(true);
    expect(sha256(Buffer.from(await import('node:fs').then((f) => f.readFileSync(path.join(blobs, oid)))))).toBe(oid);
    const chosen = page.locator('input[name="model"]:checked');
    await expect.poll(() => chosen.getAttribute('value'), { timeout: 30_000 }).toContain(`models--${REPO.replace('/', '--')}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'catalog-3-downloaded.png'), fullPage: true });

    // Tune step: Measure shows the measured time for one pass over the imported examples.
    await page.getByRole('button', { name: 'Next: tune' }).click();
    await page.getByRole('heading', { name: 'Step 3 of 5: Tune' }).waitFor();
    await page.getByTestId('pass-estimate').getByRole('button', { name: 'Measure' }).click();
    const line = page.getByText(/^Measured on this computer: about .+ for one pass over your \d+ examples \(\d+\.\d s per step\)$/);
    await line.waitFor({ timeout: 120_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'catalog-4-estimate.png'), fullPage: true });
  }, 300_000);
});
