import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { DataReport } from '../../../src/engine/data/index.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const SAMPLES = path.join(ROOT, 'resources/samples');
export const FORMATS = path.join(SAMPLES, 'formats');
export const FIXTURES = path.join(ROOT, 'tests/engine/data/fixtures');
export const STORIES_PATH = path.resolve(ROOT, '../shared/models/stories260K-hf');

export function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'attune-data-'));
}

/** The bookkeeping every report must satisfy. */
export function expectCountsAddUp(r: DataReport): void {
  const c = r.counts;
  expect(c.rowsRead).toBe(c.imported + c.rejected);
  expect(Object.values(c.rejectedBy).reduce((a, b) => a + (b ?? 0), 0)).toBe(c.rejected);
  expect(c.duplicates).toBe(c.exactDuplicates + c.nearDuplicates);
  expect(r.stats.examples).toBe(c.imported);
  expect(r.split.train + r.split.validation).toBe(c.imported);
  const rejectedListed = r.problems.filter((p) => p.rejected).length;
  const capped = Object.values(r.problemCounts).some((n) => (n ?? 0) > 200);
  if (!capped) expect(rejectedListed).toBe(c.rejected);
}
