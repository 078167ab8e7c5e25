/**
 * End to end: the renderer built by electron-vite, served on 127.0.0.1, driven by playwright-core
 * in Debian's Chromium, with window.attune wired to the real handlers and engine through the test
 * transport (server.ts + bridge.ts). A person's run through all five steps on the bundled sample
 * (or the test file where this build has no sample yet) and the tiny model. Screenshots land in
 * test-artifacts/e2e/.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, ROOT, TINY_MODEL, type TestApp } from '../app/harness.js';
import { bridgeScript, startServer, type TestServer } from './server.js';
import { builtRenderer } from './session.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'e2e');
const SAMPLE = path.join(ROOT, 'resources', 'samples', 'customer-service.jsonl');
const FIXTURE = path.join(ROOT, 'tests', 'app', 'fixtures', 'support.jsonl');
if (!existsSync(CHROMIUM)) console.warn('Chromium is missing: apt-get install -y chromium');

describe.skipIf(!existsSync(CHROMIUM))('the wizard, end to end', () => {
  let app: TestApp;
  let server: TestServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const requests: string[] = [];
  const pageErrors: string[] = [];

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    const rendererDir = await builtRenderer();
    await mkdir(ARTIFACTS, { recursive: true });
    app = await createTestApp();
    server = await startServer({ handlers: app.handlers, rendererDir, onEvent: (l) => app.listeners.add(l) });
    profile = await mkdtemp(path.join(os.tmpdir(), 'attune-chromium-'));
    // A fresh profile for every run.
    context = await chromium.launchPersistentContext(profile, {
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
  }, 120_000);

  afterAll(async () => {
    // What the page showed last and what main sent, for a failed run.
    await page?.screenshot({ path: path.join(ARTIFACTS, 'last.png'), fullPage: true }).catch(() => undefined);
    if (app) await writeFile(path.join(ARTIFACTS, 'events.json'), JSON.stringify(app.events.filter((e) => e.name !== 'chat.token'), null, 1)).catch(() => undefined);
    await context?.close();
    await server?.close();
    await app?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('goes from a new project to an exported model', async () => {
    await page.goto(server.url);
    await expect.poll(() => page.getByRole('heading', { name: /Teach a small language model/ }).isVisible()).toBe(true);
    await shot('0-welcome');

    // Project
    await page.getByLabel('Project name').fill('Support answers');
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('heading', { name: 'Step 1 of 5: Data' }).waitFor();

    // 1. Data: the bundled sample (or the test file, through the file dialog), its report, the split.
    if (existsSync(SAMPLE)) {
      await page.getByRole('button', { name: /Use the sample/ }).click();
    } else {
      app.dialogAnswers.push(FIXTURE);
      await page.getByRole('button', { name: 'Choose a file…' }).click();
    }
    const summary = page.getByTestId('report-summary');
    await summary.waitFor();
    expect(await summary.textContent()).toMatch(/Read \d+ rows: \d+ ready to use/);
    if (!existsSync(SAMPLE)) {
      // The test file has one broken row: the table shows it, the person fixes it in place.
      // (Its fields, as the file names them: the answer it lacks is there to fill in.)
      await page.getByLabel('Row 4: output').fill('No, we are closed on Sundays.');
      await shot('1-data-report-problem');
      await page.getByRole('button', { name: 'Save row 4' }).click();
      await expect.poll(() => summary.textContent()).toMatch(/11 ready to use$|11 ready to use\./);
    }
    await shot('1-data-report');
    await page.getByRole('button', { name: /^Import \d+ examples$/ }).click();
    const imported = page.getByText(/^Imported: \d+ examples to learn from/);
    await imported.waitFor();
    await page.getByRole('heading', { name: 'Your examples' }).waitFor();
    await shot('1-data-imported');
    await page.getByRole('button', { name: 'Next: choose a model' }).click();

    // 2. Model: add the tiny model through the folder dialog; what it is and whether it fits.
    await page.getByRole('heading', { name: 'Step 2 of 5: Model' }).waitFor();
    app.dialogAnswers.push(TINY_MODEL);
    await page.getByRole('button', { name: 'Add a model folder…' }).click();
    await page.getByText('stories260K-hf', { exact: true }).waitFor();
    await page.getByText('Fits this computer').waitFor();
    // stories260K never learned its </s>: the card says so in plain words.
    expect(await page.getByTestId('untrained-note').textContent()).toBe(
      'This model has never learned to end an answer (the </s> token); Attune will teach it while tuning.',
    );
    await expect.poll(() => page.getByTestId('device-line').textContent()).toMatch(/Work will run on: CPU, because/);
    await shot('2-model');
    await page.getByRole('button', { name: 'Next: tune' }).click();

    // 3. Tune: Quick; early stopping on with an interval chosen from the data size; the template
    // and untrained-token choices; a max length too short for some examples gets a warning first.
    await page.getByRole('heading', { name: 'Step 3 of 5: Tune' }).waitFor();
    await page.getByText('Advanced settings').click();
    await page.getByLabel('Batch size').fill('4');
    await page.getByLabel('Epochs').fill('1');
    expect(await page.getByLabel(/Stop when the answers to held-out examples stop improving/).isChecked()).toBe(true);
    expect(await page.getByLabel('Also teach untrained tokens').isChecked()).toBe(true);
    const template = page.getByLabel('Chat template');
    expect(await template.inputValue()).toBe('model');
    expect(await template.locator('option').allTextContents()).toEqual(['The model’s own', expect.stringMatching(/^Alpaca/), expect.stringMatching(/^ChatML/), expect.stringMatching(/^Llama 3/)]);
    // 297 examples to learn from, batch 4, 1 epoch: 75 steps, a check every 8 (about 10 checks), patience 3.
    await expect.poll(() => page.getByTestId('early-stopping-help').textContent()).toMatch(/about 75 steps: Attune checks every 8 steps \(about 9 checks, chosen to give about 10\) and stops after 3 checks in a row without improvement/);
    await page.getByLabel('Max length (tokens)').fill('448');
    await shot('3-tune-settings');
    await page.getByRole('button', { name: 'Start tuning' }).click();
    const warning = page.getByTestId('length-warning');
    await warning.waitFor();
    expect(await warning.textContent()).toMatch(/^\d+ examples of 330 are longer than the max length of 448 tokens for this model, so tuning would leave them out \(the longest has \d+ tokens\)\. Raising the max length to 512 keeps more of them/);
    expect(await warning.textContent()).toMatch(/Even then, 7 examples are longer than the 512 tokens this model can read and will be left out\./);
    await shot('3-tune-length-warning');
    await page.getByRole('button', { name: 'Raise the max length to 512 and start' }).click();
    const chart = page.getByTestId('loss-chart');
    await expect.poll(async () => Number(await chart.getAttribute('data-points')), { timeout: 90_000 }).toBeGreaterThan(2);
    await expect.poll(() => page.getByTestId('trained-tokens').textContent(), { timeout: 90_000 }).toMatch(/token it had never learned: <\/s>\./);
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 90_000 }).toBe('Finished');
    await expect.poll(() => page.locator('.recharts-line').count()).toBeGreaterThan(0);
    // Which step won and why it stopped.
    const outcome = (await page.getByTestId('run-outcome').textContent()) ?? '';
    expect(outcome).toMatch(/^(Finished all \d+ steps|Stopped early at step \d+ of \d+: the answers to your held-out examples had not improved for 3 checks in a row)/);
    expect(outcome).toMatch(/(Attune kept the best version, from step \d+ \(held-out loss \d+\.\d{3}\)|The last version was also the best on your held-out examples)/);
    const runs = app.events.filter((e) => e.name === 'tune.state').map((e) => e.payload as { state: string; stoppedBecause?: string; validation?: unknown; bestStep?: number });
    const finished = runs.find((r) => r.state === 'done')!;
    expect(finished.validation).toEqual({ evalEvery: 8, patience: 3 });
    expect(outcome).toContain(finished.stoppedBecause === 'early-stopping' ? 'Stopped early' : 'Finished all');
    await shot('3-tune-done');
    await page.getByRole('button', { name: 'Next: try it in a chat' }).click();

    // 4. Chat: a held-out example one click away; tuned and base answer side by side, streaming.
    await page.getByRole('heading', { name: 'Step 4 of 5: Chat' }).waitFor();
    await page.getByText('Try one of your held-out examples').click();
    await page.locator('details ul.plain button').first().click();
    await page.getByRole('heading', { name: 'Your answer (reference)' }).waitFor();
    await page.getByText('Answer settings').click();
    await page.getByLabel('Creativity (temperature)').fill('0');
    await page.getByLabel('Longest answer (tokens)').fill('40');
    const ask = page.getByRole('button', { name: 'Ask both' });
    await expect.poll(() => ask.isEnabled(), { timeout: 30_000 }).toBe(true);
    const tokensBefore = app.events.filter((e) => e.name === 'chat.token').length;
    await ask.click();
    await expect.poll(async () => ((await page.getByTestId('answer-tuned').textContent()) ?? '').replace('Writing…', '').length, { timeout: 30_000 }).toBeGreaterThan(0);
    await expect.poll(() => ask.isEnabled(), { timeout: 30_000 }).toBe(true);
    expect(((await page.getByTestId('answer-base').textContent()) ?? '').length).toBeGreaterThan(0);
    expect(app.events.filter((e) => e.name === 'chat.token').length - tokensBefore).toBeGreaterThan(2);
    await shot('4-chat');

    // 4b. Review: held-out questions, expected vs original vs tuned with scores, the numbers explained.
    await page.getByRole('button', { name: 'Run the review' }).click();
    const review = page.getByTestId('review-report');
    await review.waitFor({ timeout: 60_000 });
    expect(app.events.filter((e) => e.name === 'review.progress').length).toBeGreaterThan(1);
    expect(await page.getByTestId('review-loss').textContent()).toMatch(/^On your \d+ held-out examples \(ones it never learned from\), the tuned model's loss is \d+\.\d{3} against \d+\.\d{3} for the original: .*perplexity/);
    expect(await page.getByTestId('review-similarity').textContent()).toMatch(/ROUGE-L F1: 0 = nothing in common, 1 = word for word\), averaged over 5 questions: tuned \d\.\d\d, original \d\.\d\d\./);
    const first = page.getByRole('article', { name: 'Held-out question 1' });
    for (const col of ['Your answer', 'Original model', 'Tuned model']) await first.getByRole('heading', { name: col }).waitFor();
    expect(await first.getByText(/^Similarity to yours: \d\.\d\d$/).count()).toBe(2);
    await review.scrollIntoViewIfNeeded();
    await shot('4-chat-review');
    await page.getByRole('button', { name: 'Next: export' }).click();

    // 5. Export: the choices with their explanations; the adapter export with progress.
    await page.getByRole('heading', { name: 'Step 5 of 5: Export' }).waitFor();
    await page.getByText('Adapter only (small)').waitFor();
    await page.getByText(/Needs the original model next to it/).waitFor();
    const save = page.getByRole('button', { name: 'Save the tuned model' });
    await save.click();
    await page.getByRole('heading', { name: 'Saved' }).waitFor({ timeout: 60_000 });
    const fractions = app.events.filter((e) => e.name === 'export.progress').map((e) => (e.payload as { fraction: number }).fraction);
    expect(fractions.length).toBeGreaterThan(1);
    expect(fractions.at(-1)).toBe(1);
    await page.getByText('adapter_model.safetensors', { exact: false }).waitFor();
    await shot('5-export');
    // Saving again asks first; replacing it saves again.
    await save.click();
    const confirm = page.getByRole('alertdialog', { name: 'Replace the earlier copy?' });
    await confirm.waitFor();
    expect(await confirm.textContent()).toMatch(/You already saved the Quick run of .+ \(finished, held-out loss \d+\.\d{3}\) as “Adapter only \(small\)”/);
    await shot('5-export-confirm');
    await confirm.getByRole('button', { name: 'Replace it' }).click();
    await page.getByRole('heading', { name: 'Saved' }).waitFor({ timeout: 60_000 });

    // The local OpenAI-compatible server: only when asked; its URL and what it is for; stops on request.
    expect(server.calls).not.toContain('serve.start');
    await page.getByRole('button', { name: 'Start the local server' }).click();
    const url = (await page.getByTestId('server-url').textContent({ timeout: 30_000 }))!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(await page.getByTestId('server-running').textContent()).toContain(`Help-desk tools that speak the OpenAI API can use ${url}`);
    const models = (await (await fetch(`${url}/models`)).json()) as { data: { id: string }[] };
    expect(models.data.length).toBe(1);
    await shot('5-export-server');
    await page.getByRole('button', { name: 'Stop the server' }).click();
    await page.getByRole('button', { name: 'Start the local server' }).waitFor();
    await expect(fetch(`${url}/models`)).rejects.toThrow();

    // Dark theme, and 125% zoom still reads.
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.locator('#step-tab-tune').click();
    await shot('6-tune-dark');
    await page.evaluate("document.documentElement.style.fontSize = '125%'");
    await shot('7-tune-dark-125');
    const bg = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    expect(bg).toBe('rgb(23, 25, 29)');

    // Offline: the page asked nothing of any other host; no errors in the page.
    expect(requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('data:'))).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 180_000);

  it('is keyboard-navigable between steps', async () => {
    await page.locator('#step-tab-data').focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Step 2 of 5: Model' }).waitFor();
    expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('step-heading');
  });
});
