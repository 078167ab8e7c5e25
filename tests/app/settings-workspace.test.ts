import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultSettings, memorySettings, sanitizeSettings, touchRecent, MAX_RECENT } from '../../src/main/settings.js';
import { newId, safeSegment, Workspace } from '../../src/main/workspace.js';

describe('settings', () => {
  it('defaults to ~/Attune and the system theme', () => {
    expect(defaultSettings('/home/ann')).toEqual({ workspace: '/home/ann/Attune', theme: 'system', recentProjects: [], addedModels: [], device: 'auto' });
  });

  it('keeps only valid values from a damaged store', () => {
    const d = defaultSettings('/h');
    expect(sanitizeSettings({ workspace: 'relative', theme: 'pink', recentProjects: [1, 'a'], addedModels: [{ path: '/m', kind: 'folder' }, { path: 3 }], device: 'tpu', extra: 1 }, d)).toEqual({
      ...d,
      recentProjects: ['a'],
      addedModels: [{ path: '/m', kind: 'folder' }],
    });
    expect(sanitizeSettings(null, d)).toEqual(d);
  });

  it('keeps recent projects most recent first, without duplicates, at most ten', () => {
    const s = memorySettings({}, '/h');
    for (let i = 0; i < 12; i++) touchRecent(s, `p${i}`);
    touchRecent(s, 'p5');
    const r = s.get().recentProjects;
    expect(r[0]).toBe('p5');
    expect(r).toHaveLength(MAX_RECENT);
    expect(new Set(r).size).toBe(r.length);
  });

  it('returns copies, so callers cannot change the store by accident', () => {
    const s = memorySettings({}, '/h');
    s.get().recentProjects.push('x');
    expect(s.get().recentProjects).toEqual([]);
  });
});

describe('workspace', () => {
  let root: string;
  afterEach(async () => root && rm(root, { recursive: true, force: true }));

  it('creates projects with data/, runs/ and exports/', async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'attune-ws-'));
    const ws = new Workspace(root);
    await ws.ensure();
    await ws.createProject('Support answers');
    expect((await readdir(ws.projectDir('Support answers'))).sort()).toEqual(['data', 'exports', 'project.json', 'runs']);
    await expect(ws.createProject('Support answers')).rejects.toThrow(/already exists/);
    expect((await ws.listProjects()).map((p) => p.name)).toEqual(['Support answers']);
  });

  it('never resolves a path outside the workspace', () => {
    const ws = new Workspace('/w');
    expect(() => ws.projectDir('../x')).toThrow();
    expect(() => ws.resolve('..', 'etc')).toThrow(/outside the workspace/);
    expect(() => ws.runDir('p', '../../etc')).not.toThrow(); // reduced to one safe segment
    expect(ws.runDir('p', '../../etc')).toBe('/w/projects/p/runs/etc');
    expect(ws.contains('/w/projects/p')).toBe(true);
    expect(ws.contains('/wx')).toBe(false);
  });

  it('reduces a file name to one safe segment', () => {
    expect(safeSegment('C:\\Users\\ann\\data.csv')).toBe('data.csv');
    expect(safeSegment('../../.ssh/id_rsa')).toBe('id_rsa');
    expect(safeSegment('a<b>:c.jsonl')).toBe('a_b__c.jsonl');
    expect(() => safeSegment('...')).toThrow();
  });

  it('mints ids that are valid path segments', () => {
    expect(newId('run', new Date('2025-01-02T03:04:05Z'))).toMatch(/^run-20250102-030405-[a-z0-9]{1,4}$/);
  });
});
