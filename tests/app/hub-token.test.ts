/**
 * The Hugging Face token in the app: kept only encrypted by safeStorage (here a stand-in with the
 * same interface), never in plain text, refused when the computer has no protected storage.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { HubTokenStore, hubTokenFor, type SafeStorageLike } from '../../src/main/services/hub-token.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'attune-token-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Like safeStorage: a key held outside the file (XOR with a secret, then reversed). */
const fakeSafe = (available = true): SafeStorageLike => ({
  isEncryptionAvailable: () => available,
  encryptString: (s) => Buffer.from([...Buffer.from(s)].map((b, i) => b ^ (0x5a + i) % 256).reverse()),
  decryptString: (b) => Buffer.from([...b].reverse().map((x, i) => x ^ (0x5a + i) % 256)).toString(),
});

describe('HubTokenStore', () => {
  const token = 'hf_AbCdEf1234567890';
  it('keeps the token encrypted and gives it back', async () => {
    const file = path.join(dir, 'a', 'hub-token.json');
    const store = new HubTokenStore(file, fakeSafe());
    expect(store.has()).toBe(false);
    await store.set(`  ${token}\n`);
    const raw = readFileSync(file, 'utf8');
    expect(raw).not.toContain(token);
    expect(raw).not.toContain('AbCdEf');
    expect(await store.get()).toBe(token);
    expect(await hubTokenFor(store, {})).toBe(token);
    expect(JSON.stringify(store)).toBe('{"hasToken":true}');
    expect(inspect(store)).not.toContain('AbCdEf');
    await store.clear();
    expect(await store.get()).toBeUndefined();
    expect(await hubTokenFor(store, { HF_TOKEN: 'hf_fromEnvironment1' })).toBe('hf_fromEnvironment1');
  });

  it('refuses a malformed token and a computer without protected storage, in words', async () => {
    const store = new HubTokenStore(path.join(dir, 'b.json'), fakeSafe(false));
    await expect(store.set('not-a-token')).rejects.toMatchObject({ code: 'hub.bad-token' });
    await expect(store.set(token)).rejects.toMatchObject({ code: 'hub.token-unprotected', message: expect.stringContaining('no password store (keyring)') });
    expect(store.has()).toBe(false);
  });
});
