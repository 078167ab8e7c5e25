// Atomic file writes: write a temp file in the destination folder, fsync, then rename over the
// target, so a crash or a full disk never leaves a half-written weights file under the real name.
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Calls `write(chunk)` sequence via `produce`; chunks are written in order. */
export async function writeFileAtomic(
  filePath: string,
  produce: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
): Promise<void> {
  const tmp = join(dirname(filePath), `.${basename(filePath)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx');
  let ok = false;
  try {
    await produce(async (chunk) => {
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
        off += bytesWritten;
      }
    });
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
