// Atomic writes: write a temp file (or folder) beside the destination, then rename it over the
// target, so a crash or a full disk never leaves a half-written file under the real name.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes all of `bytes` at the file's position (a write may take only part of it). */
export async function writeFully(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.byteLength; ) done += (await fh.write(bytes, done, bytes.byteLength - done)).bytesWritten;
}

/** Calls `write(chunk)` sequence via `produce`; chunks are written in order. */
export async function writeFileAtomic(
  filePath: string,
  produce: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<void> {
  const tmp = join(dirname(filePath), `.${basename(filePath)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx');
  let ok = false;
  try {
    await produce((chunk) => writeFully(fh, chunk));
    await fh.sync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await unlink(tmp).catch(() => undefined);
  }
  try {
    await rename(tmp, filePath);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** Writes a small text file atomically. */
export async function writeTextAtomic(filePath: string, text: string): Promise<void> {
  await writeFileAtomic(filePath, async (write) => write(Buffer.from(text)));
}

/**
 * Fills a temporary sibling folder with `fill`, then replaces `dir` with it: readers see the old
 * folder or the whole new one, and a failure leaves no half folder behind.
 */
export async function writeDirAtomic(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`; // read back by atomicDirOwner
  await mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dirname(dir), { recursive: true });
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** The process that is writing `name` if it is a writeDirAtomic temporary folder, else undefined. */
export function atomicDirOwner(name: string): number | undefined {
  const m = /\.tmp-(\d+)-[0-9a-f]+$/.exec(name);
  return m ? Number(m[1]) : undefined;
}
