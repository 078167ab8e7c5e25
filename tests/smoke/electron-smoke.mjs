#!/usr/bin/env node
// Smoke test of an installed Attune, run by the release workflow on each platform (it needs the
// real Electron, so it does not run on the development machines):
//   node tests/smoke/electron-smoke.mjs <path to the installed app's executable> [artifacts dir]
// Launches the app with a fresh profile through Playwright's Electron support and walks the first
// run: the projects folder, the sample, the Data step's report of the sample, its import, and the
// Model step's device line (the device probe runs in a child process). Fails if any request
// leaves the machine or the page logs an error.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { _electron as electron } from 'playwright-core';

const executablePath = process.argv[2];
if (!executablePath) {
  console.error('usage: node tests/smoke/electron-smoke.mjs <app executable> [artifacts dir]');
  process.exit(2);
}
const artifacts = path.resolve(process.argv[3] ?? 'test-artifacts/smoke');
mkdirSync(artifacts, { recursive: true });

// A fresh profile: settings, caches and Documents in a temporary home.
const home = mkdtempSync(path.join(os.tmpdir(), 'attune-smoke-'));
const env = {
  ...process.env,
  HOME: home,
  USERPROFILE: home,
  APPDATA: path.join(home, 'AppData', 'Roaming'),
  LOCALAPPDATA: path.join(home, 'AppData', 'Local'),
  XDG_CONFIG_HOME: path.join(home, '.config'),
  XDG_CACHE_HOME: path.join(home, '.cache'),
  XDG_DOCUMENTS_DIR: path.join(home, 'Documents'),
};
for (const d of [env.APPDATA, env.LOCALAPPDATA, env.XDG_CONFIG_HOME, env.XDG_CACHE_HOME, env.XDG_DOCUMENTS_DIR]) mkdirSync(d, { recursive: true });

const step = (s) => console.log(`smoke: ${s}`);
const app = await electron.launch({ executablePath, args: process.platform === 'linux' ? ['--no-sandbox'] : [], env, timeout: 120_000 });
const offMachine = [];
const errors = [];
let page;
try {
  page = await app.firstWindow({ timeout: 120_000 });
  page.on('request', (r) => {
    const u = r.url();
    if (!/^(file|devtools|data|blob):/.test(u)) offMachine.push(u);
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  const shot = (name) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

  step('first window');
  await page.getByRole('heading', { name: 'Welcome to Attune' }).waitFor({ timeout: 60_000 });
  await shot('1-welcome');
  await page.getByRole('button', { name: 'Use this folder' }).click();

  step('the sample');
  await page.getByRole('heading', { name: 'Try it with the sample first' }).waitFor();
  await shot('2-sample');
  await page.getByRole('button', { name: 'Start with the sample' }).click();

  step('Data step');
  await page.getByRole('heading', { name: 'Step 1 of 5: Data' }).waitFor();
  await page.getByRole('button', { name: /Use the sample/ }).click();
  const summary = page.getByTestId('report-summary');
  await summary.waitFor({ timeout: 120_000 });
  const text = await summary.textContent();
  if (!/Read 330 rows/.test(text ?? '')) throw new Error(`unexpected data report: ${text}`);
  await page.getByRole('button', { name: /^Import \d+ examples$/ }).click();
  await page.getByText(/^Imported: \d+ examples to learn from/).waitFor({ timeout: 120_000 });
  await shot('3-data');

  step('Model step (device probe in a child process)');
  await page.getByRole('button', { name: 'Next: choose a model' }).click();
  await page.getByRole('heading', { name: 'Step 2 of 5: Model' }).waitFor();
  await page.getByTestId('device-line').filter({ hasText: /Work will run on:/ }).waitFor({ timeout: 180_000 });
  await shot('4-model');

  if (offMachine.length) throw new Error(`requests left the machine: ${offMachine.join(', ')}`);
  if (errors.length) throw new Error(`the page logged errors: ${errors.join(' | ')}`);
  step('passed');
} catch (err) {
  await page?.screenshot({ path: path.join(artifacts, 'failed.png'), fullPage: true }).catch(() => undefined);
  console.error(err);
  process.exitCode = 1;
} finally {
  await app.close().catch(() => undefined);
  rmSync(home, { recursive: true, force: true, maxRetries: 5 });
}
