/**
 * The recommended models (data in resources/models-catalog.json), each with memory to tune on
 * this computer from the engine's own estimate (the one `models inspect` prints).
 */
import os from 'node:os';
import catalogData from '../../../resources/models-catalog.json' with { type: 'json' };
import { AttuneError } from '../../shared/errors.js';
import { parseHfConfig } from '../models/config.js';
import { estimateMemory } from '../models/inspect.js';
import { BASE_STORAGES, type BaseStorage } from '../models/base-storage.js';

export interface CatalogEntry {
  repo: string;
  name: string;
  licence: string;
  gated: boolean;
  architecture: string;
  parameters: number;
  downloadBytes: number;
  description: string;
  config: Record<string, unknown>;
}

export type MemoryFit = 'fits' | 'tight' | 'too-big';

export interface CatalogMemory {
  /** Memory to tune with the frozen base in F32, and with each compact storage. */
  tuningBytes: number;
  tuningBytesByStorage: Record<BaseStorage, number>;
  machineBytes: number;
  /** fits: under 60% of this computer's memory; tight: under 85%; too-big: above. */
  fit: MemoryFit;
  /** The base storage that makes it fit best (f32 when it already fits). */
  bestStorage: BaseStorage;
  fitWithBest: MemoryFit;
}

export function catalogEntries(): CatalogEntry[] {
  const models = (catalogData as { models?: unknown }).models;
  if (!Array.isArray(models)) throw new AttuneError('catalog.no-models', {}, { file: 'resources/models-catalog.json', field: 'models' });
  return models.map((m, i) => checkEntry(m, i));
}

function checkEntry(m: unknown, i: number): CatalogEntry {
  const e = m as Record<string, unknown>;
  const where = { file: 'resources/models-catalog.json' };
  for (const [k, t] of [['repo', 'string'], ['name', 'string'], ['licence', 'string'], ['gated', 'boolean'], ['architecture', 'string'], ['parameters', 'number'], ['downloadBytes', 'number'], ['description', 'string'], ['config', 'object']] as const) {
    if (typeof e?.[k] !== t) throw new AttuneError('catalog.model-field', { index: i + 1, key: k, type: t }, { ...where, field: k });
  }
  return e as unknown as CatalogEntry;
}

export function fitOf(bytes: number, machineBytes: number): MemoryFit {
  if (bytes < machineBytes * 0.6) return 'fits';
  if (bytes < machineBytes * 0.85) return 'tight';
  return 'too-big';
}

export function catalogMemory(entry: CatalogEntry, machineBytes = os.totalmem()): CatalogMemory {
  const m = estimateMemory(parseHfConfig(entry.config, `resources/models-catalog.json (${entry.repo})`));
  const fit = fitOf(m.tuningBytes, machineBytes);
  let bestStorage: BaseStorage = 'f32';
  for (const s of BASE_STORAGES) if (m.tuningBytesByStorage[s] < m.tuningBytesByStorage[bestStorage]) bestStorage = s;
  if (fit === 'fits') bestStorage = 'f32';
  return { tuningBytes: m.tuningBytes, tuningBytesByStorage: m.tuningBytesByStorage, machineBytes, fit, bestStorage, fitWithBest: fitOf(m.tuningBytesByStorage[bestStorage], machineBytes) };
}
