/**
 * The app's download service (src/main/services/hub.ts) against the stand-in Hub: progress events,
 * a gated repo refused in words without the kept token and pulled with it, and the downloaded
 * model offered among the models on this computer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubTokenStore, hubTokenFor, type SafeStorageLike } from '../../src/main/services/hub-token.js';
import { createHubService } from '../../src/main/services/hub.js';
import type { HubPullEvent } from '../../src/shared/hub.js';
import { FakeHub, repoFromFolder } from '../helpers/fake-hub.js';
import { writeTinyModel } from '../helpers/tiny-model.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'attune-hub-service-'));
const TOKEN = 'hf_keptToken12345';
const safe: SafeStorageLike = { isEncryptionAvailable: () => true, encryptString: (s) => Buffer.from(s).reverse(), decryptString: (b) => Buffer.from(b).reverse().toString() };
let hub: FakeHub;
const saved = { ...process.env };

beforeAll(async () => {
  writeTinyModel(path.join(work, 'src'), 'llama');
  hub = new FakeHub([repoFromFolder('org/gated-tiny', path.join(work, 'src'), { gated: true, allowed: [TOKEN] })], { tokens: [TOKEN] });
  await hub.start();
  Object.assign(process.env, { HF_ENDPOINT: hub.url, HF_HUB_CACHE: path.join(work, 'hf'), HOME: work, ATTUNE_CONFIG_DIR: path.join(work, 'config') });
  delete process.env.HF_TOKEN;
});
afterAll(async () => {
  await hub.stop();
  process.env = saved;
  rmSync(work, { recursive: true, force: true });
});

const finished = (events: HubPullEvent[]) => events.find((e) => e.state !== 'progress');

describe('the app download service', () => {
  it('refuses a gated model without the kept token, pulls it with the token, and offers it as on this computer', async () => {
    const store = new HubTokenStore(path.join(work, 'token.json'), safe);
    const events: HubPullEvent[] = [];
    const svc = createHubService({ emit: (e) => events.push(e), token: () => hubTokenFor(store) });
    expect(svc.list().find((m) => m.name === 'org/gated-tiny')).toBeUndefined();

    svc.pull('org/gated-tiny');
    await expect.poll(() => finished(events)).toBeDefined();
    expect(finished(events)).toMatchObject({ state: 'error', code: 'hub.gated', message: expect.stringContaining('accept its licence on') });

    events.length = 0;
    await store.set(TOKEN);
    svc.pull('org/gated-tiny');
    await expect.poll(() => finished(events), { timeout: 20_000 }).toBeDefined();
    expect(finished(events)).toMatchObject({ state: 'done', dir: expect.stringContaining('models--org--gated-tiny') });
    const progress = events.filter((e) => e.state === 'progress');
    expect(progress.length).toBeGreaterThan(1);
    expect(svc.list().find((m) => m.name === 'org/gated-tiny')).toMatchObject({ source: 'hub-cache', canTune: true });
    expect(svc.usableOnDisk().map((m) => m.path)).toContain((finished(events) as { dir: string }).dir);
    await svc.dispose();
  });
});
