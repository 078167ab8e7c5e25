/**
 * The workspace folder: projects/<name>/{data/, runs/, exports/} and models/. Every path the
 * handlers touch is built here and checked to stay inside the workspace.
 */
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AttuneError } from '../shared/errors.js';
import { projectName } from '../shared/contract.js';
import { issueText } from '../shared/field-messages.js';

export interface ProjectRecord {
  name: string;
  createdAt: string;
  updatedAt: string;
  data?: { source: string; train: number; val: number; valFraction: number; seed: number; importedAt: string };
}

const pendingWrites = new Map<string, Promise<void>>();
let tmpCounter = 0;

/**
 * Writes through a temporary file and a rename, so a crash never leaves half a file. Writes to
 * the same file run one after another, in call order, so a late event never overwrites a later
 * state with an earlier one (and no two writes share a temporary name).
 */
export async function writeFileAtomic(file: string, content: string | Uint8Array): Promise<void> {
  const previous = pendingWrites.get(file) ?? Promise.resolve();
  const write = previous.catch(() => undefined).then(async () => {
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${++tmpCounter}.tmp`;
    await writeFile(tmp, content);
    await rename(tmp, file);
  });
  pendingWrites.set(file, write);
  try {
    await write;
  } finally {
    if (pendingWrites.get(file) === write) pendingWrites.delete(file);
  }
}

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

export class Workspace {
  constructor(readonly root: string) {
    if (!path.isAbsolute(root)) throw new AttuneError('workspace.relative');
  }

  get projectsDir(): string {
    return path.join(this.root, 'projects');
  }
  get modelsDir(): string {
    return path.join(this.root, 'models');
  }

  /** True when `p` is the workspace or lies inside it. */
  contains(p: string): boolean {
    const rel = path.relative(this.root, path.resolve(p));
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  }

  /** Joins parts under the workspace and refuses anything that would leave it. */
  resolve(...parts: string[]): string {
    const p = path.resolve(this.root, ...parts);
    if (!this.contains(p)) throw new AttuneError('workspace.outside');
    return p;
  }

  projectDir(name: string): string {
    const parsed = projectName.safeParse(name);
    if (!parsed.success) throw AttuneError.rendered('project.name', `Project name: ${issueText(projectName, parsed.error.issues[0])}`);
    return this.resolve('projects', parsed.data);
  }
  dataDir(name: string): string {
    return path.join(this.projectDir(name), 'data');
  }
  /** The person's files as they gave them (never modified). */
  originalDir(name: string): string {
    return path.join(this.dataDir(name), 'original');
  }
  /** Working copies that row fixes are applied to. */
  workingDir(name: string): string {
    return path.join(this.dataDir(name), 'working');
  }
  /** The normalised examples (train and held-out together; the split is computed from the seed). */
  examplesFile(name: string): string {
    return path.join(this.dataDir(name), 'examples.jsonl');
  }
  runsDir(name: string): string {
    return path.join(this.projectDir(name), 'runs');
  }
  runDir(name: string, runId: string): string {
    return this.resolve(this.runsDir(name), safeSegment(runId));
  }
  exportsDir(name: string): string {
    return path.join(this.projectDir(name), 'exports');
  }

  async ensure(): Promise<void> {
    await mkdir(this.projectsDir, { recursive: true });
    await mkdir(this.modelsDir, { recursive: true });
  }

  async createProject(name: string): Promise<ProjectRecord> {
    const dir = this.projectDir(name);
    if (await exists(dir)) throw new AttuneError('project.exists', { name });
    for (const sub of ['data/original', 'data/working', 'runs', 'exports']) await mkdir(path.join(dir, sub), { recursive: true });
    const now = new Date().toISOString();
    const rec: ProjectRecord = { name, createdAt: now, updatedAt: now };
    await writeFileAtomic(path.join(dir, 'project.json'), JSON.stringify(rec, null, 2));
    return rec;
  }

  async readProject(name: string): Promise<ProjectRecord> {
    const rec = await readJson<ProjectRecord>(path.join(this.projectDir(name), 'project.json'));
    if (!rec) throw new AttuneError('project.missing', { name });
    return rec;
  }

  async updateProject(name: string, patch: Partial<Omit<ProjectRecord, 'name' | 'createdAt'>>): Promise<ProjectRecord> {
    const rec = { ...(await this.readProject(name)), ...patch, updatedAt: new Date().toISOString() };
    await writeFileAtomic(path.join(this.projectDir(name), 'project.json'), JSON.stringify(rec, null, 2));
    return rec;
  }

  async listProjects(): Promise<ProjectRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.projectsDir);
    } catch {
      return [];
    }
    const out: ProjectRecord[] = [];
    for (const n of names) {
      if (!projectName.safeParse(n).success) continue;
      const rec = await readJson<ProjectRecord>(path.join(this.projectsDir, n, 'project.json')).catch(() => undefined);
      if (rec) out.push(rec);
    }
    return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  }

  async listRunIds(name: string): Promise<string[]> {
    try {
      return (await readdir(this.runsDir(name), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    } catch {
      return [];
    }
  }
}

/** A file or folder name a person supplied, reduced to one safe path segment. */
export function safeSegment(name: string): string {
  const base = path.basename(name.replace(/\\/g, '/'));
  const cleaned = base.replace(/[^\p{L}\p{N} ._-]/gu, '_').replace(/^\.+/, '').slice(0, 120);
  if (!cleaned) throw new AttuneError('project.file-name');
  return cleaned;
}

/** A new id such as `run-20250101-120000-ab12`. */
export function newId(prefix: string, now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${prefix}-${t}-${Math.random().toString(36).slice(2, 6)}`;
}
