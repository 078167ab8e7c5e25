/**
 * Large files stream: a ~50 MB JSONL imports with bounded memory (RSS growth well below the
 * file size times the in-memory blow-up of parsed JSON), and progress reaches the end.
 */
import { createWriteStream, statSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { importDataFile } from '../../../src/engine/data/index.js';
import { seededRandom } from '../../../src/engine/data/split.js';
import { expectCountsAddUp, tempDir } from './helpers.js';

const WORDS = 'order parcel refund delivery courier sorry replacement tracking label account password invoice charge discount subscription teapot mug bowl jar towel kettle basket studio tomorrow monday friday express working days bank card return label collect box'.split(' ');

async function writeBigJsonl(file: string, targetBytes: number): Promise<number> {
  const rand = seededRandom(5);
  const words = (n: number) => Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
  const ws = createWriteStream(file);
  let bytes = 0;
  let rows = 0;
  while (bytes < targetBytes) {
    const line = JSON.stringify({ messages: [{ role: 'user', content: `#${rows} ${words(40)}?` }, { role: 'assistant', content: `Hi, ${words(120)}.` }] }) + '\n';
    bytes += Buffer.byteLength(line);
    rows++;
    if (!ws.write(line)) await once(ws, 'drain');
  }
  ws.end();
  await once(ws, 'finish');
  return rows;
}

describe('streaming import', () => {
  it('imports a ~50 MB JSONL with bounded memory', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'big.jsonl');
    const rows = await writeBigJsonl(file, 50 * 1024 * 1024);
    const size = statSync(file).size;
    global.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    let lastFraction = 0;
    const r = await importDataFile(file, {
      out: path.join(dir, 'out.jsonl'),
      onProgress: (p) => (lastFraction = p.bytesRead / p.totalBytes),
    });
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage().rss);
    expectCountsAddUp(r);
    expect(r.counts.rowsRead).toBe(rows);
    expect(r.counts.imported).toBeGreaterThan(rows * 0.99);
    expect(lastFraction).toBe(1);
    expect(statSync(path.join(dir, 'out.jsonl')).size).toBeGreaterThan(size * 0.9);
    const growthMB = (peak - base) / (1024 * 1024);
    console.log(`rows ${rows}, file ${(size / 1048576).toFixed(1)} MB, RSS growth ${growthMB.toFixed(0)} MB`);
    expect(growthMB).toBeLessThan(300);
  }, 120_000);
});
