/**
 * The "Download from" setting (Settings.hubEndpoint): refused in plain words unless it is an
 * http(s) address, kept without a trailing slash, cleared by an empty field, and used by the
 * Model step's downloads instead of HF_ENDPOINT.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HubPullEvent } from '../../src/shared/hub.js';
import { FakeHub, repoFromFolder } from '../helpers/fake-hub.js';
import { writeTinyModel } from '../helpers/tiny-model.js';
import { createTestApp, type TestApp } from './harness.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'attune-hub-endpoint-'));
let hub: FakeHub;
let app: TestApp;
const saved = { ...process.env };

beforeAll(async () => {
  writeTinyModel(path.join(work, 'src'), 'llama');
  hub = new FakeHub([repoFromFolder('org/mirror-tiny', path.join(work, 'src'))]);
  await hub.start();
  // The environment points at an address where nothing listens: only the setting can make the pull work.
  Object.assign(process.env, { HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_CACHE: path.join(work, 'hf'), HOME: work, ATTUNE_CONFIG_DIR: path.join(work, 'config') });
  delete process.env.HF_TOKEN;
  app = await createTestApp();
});
afterAll(async () => {
  await app.close();
  await hub.stop();
  process.env = saved;
  rmSync(work, { recursive: true, force: true });
});

const pullEvents = () => app.events.filter((e) => e.name === 'hub.progress').map((e) => e.payload as HubPullEvent);
const finished = () => pullEvents().find((e) => e.state !== 'progress');

describe('the Download from setting', () => {
  it('refuses an address that is not http(s), in plain words naming what was typed', async () => {
    const h = app.handlers;
    for (const bad of ['huggingface.co', 'ftp://mirror.example.com', 'not a url']) {
      await expect(h['settings.update']({ hubEndpoint: bad })).rejects.toMatchObject({
        code: 'hub.bad-endpoint',
        message: expect.stringContaining(`"${bad}" is not a web address`),
      });
    }
    expect((await h['settings.get']({})).hubEndpoint).toBeUndefined();
  });

  it('keeps a mirror address, and an empty field clears it', async () => {
    const h = app.handlers;
    expect((await h['settings.update']({ hubEndpoint: ' https://hf-mirror.example.com/ ' })).hubEndpoint).toBe('https://hf-mirror.example.com');
    expect((await h['settings.update']({ hubEndpoint: '' })).hubEndpoint).toBeUndefined();
  });

  it('downloads from the address in the setting rather than HF_ENDPOINT', async () => {
    const h = app.handlers;
    await h['settings.update']({ hubEndpoint: hub.url });
    await h['hub.pull']({ repo: 'org/mirror-tiny' });
    await expect.poll(() => finished(), { timeout: 20_000 }).toBeDefined();
    expect(finished()).toMatchObject({ state: 'done', dir: expect.stringContaining('models--org--mirror-tiny') });
    expect(hub.requests.some((r) => r.url.includes('org/mirror-tiny'))).toBe(true);
  });
});
