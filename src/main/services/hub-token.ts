/**
 * The Hugging Face token the app keeps for gated models: encrypted with Electron's safeStorage
 * (the OS keychain / DPAPI / libsecret key) and stored only as that ciphertext; never written in
 * plain text and never logged. safeStorage is passed in so that this is tested under Node.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AttuneError } from '../../engine/index.js';

/** The part of Electron's `safeStorage` this uses. */
export interface SafeStorageLike {
  isEncryptionAvailable(): boolean;
  encryptString(plainText: string): Buffer;
  decryptString(encrypted: Buffer): string;
}

export const TOKEN_PATTERN = /^hf_[A-Za-z0-9]{8,}$/;

export class HubTokenStore {
  constructor(
    private readonly file: string,
    private readonly safe: SafeStorageLike,
  ) {}

  has(): boolean {
    return existsSync(this.file);
  }

  async set(token: string): Promise<void> {
    const t = token.trim();
    if (!TOKEN_PATTERN.test(t)) {
      throw new AttuneError('hub.token-not-a-token');
    }
    if (!this.safe.isEncryptionAvailable()) {
      throw new AttuneError('hub.token-unprotected');
    }
    const data = this.safe.encryptString(t).toString('base64');
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ encrypted: data }) + '\n', { mode: 0o600 });
    await rename(tmp, this.file);
  }

  /** The token, or undefined when none is kept (or it can no longer be decrypted). */
  async get(): Promise<string | undefined> {
    if (!this.has()) return undefined;
    try {
      const { encrypted } = JSON.parse(await readFile(this.file, 'utf8')) as { encrypted: string };
      return this.safe.decryptString(Buffer.from(encrypted, 'base64'));
    } catch {
      return undefined;
    }
  }

  async clear(): Promise<void> {
    await rm(this.file, { force: true });
  }

  /** What may be shown or logged: whether a token is kept, never the token. */
  toJSON(): { hasToken: boolean } {
    return { hasToken: this.has() };
  }
}

/** The token a download uses: the app's kept token, else HF_TOKEN. */
export async function hubTokenFor(store: HubTokenStore, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  return (await store.get()) ?? (env.HF_TOKEN || undefined);
}
