/**
 * The first run: opening the app with nothing else. It asks where to keep projects (a folder in
 * Documents by default), shows the bundled sample and what Attune will do, and points at the Model
 * step's catalog. Plain functions over the settings store and the file system (tested under Node);
 * handlers.ts registers them. The page never names a path: it picks the suggested folder or the
 * one the person chose in main's own folder dialog.
 */
import { access, constants, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FirstRunStatus, Settings } from '../../shared/contract.js';
import { AttuneError } from '../../shared/errors.js';
import type { SettingsStore } from '../settings.js';
import { Workspace } from '../workspace.js';

export interface FirstRunDeps {
  settings: SettingsStore;
  /** Folder with samples/customer-service.jsonl (and models-catalog.json when the build has it). */
  resourcesDir: string;
  /** The person's Documents folder (Electron's app.getPath('documents')); ~/Documents otherwise. */
  documentsDir?: string;
  openFolder(opts: { title: string }): Promise<string | null>;
}

export const SAMPLE_FILE = 'customer-service.jsonl';
const PREVIEW = 3;

/** Documents/Attune: where people look for their files, on every platform. */
export function suggestedFolder(documentsDir?: string, home = os.homedir()): string {
  return path.join(documentsDir ?? path.join(home, 'Documents'), 'Attune');
}

interface SampleLine {
  messages?: { role?: string; content?: string }[];
}

/** How many examples the bundled sample has, and the first few as question and answer. */
export async function samplePreview(resourcesDir: string): Promise<FirstRunStatus['sample']> {
  const file = path.join(resourcesDir, 'samples', SAMPLE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n').filter((l) => l.trim());
  const preview: { question: string; answer: string }[] = [];
  for (const line of lines) {
    if (preview.length >= PREVIEW) break;
    try {
      const m = (JSON.parse(line) as SampleLine).messages ?? [];
      const question = m.find((x) => x.role === 'user')?.content;
      const answer = m.find((x) => x.role === 'assistant')?.content;
      if (question && answer) preview.push({ question, answer });
    } catch {
      // the sample is ours and valid; a damaged copy only shortens the preview
    }
  }
  return { file: SAMPLE_FILE, examples: lines.length, preview };
}

/** Whether this looks like someone who has used Attune before (an older install, say). */
async function hasUsedAttune(settings: Settings): Promise<boolean> {
  if (settings.firstRunDone || settings.recentProjects.length > 0) return true;
  return (await new Workspace(settings.workspace).listProjects()).length > 0;
}

export function createFirstRun(deps: FirstRunDeps) {
  let chosen: string | undefined;
  const suggested = () => suggestedFolder(deps.documentsDir);

  return {
    async status(): Promise<FirstRunStatus> {
      const settings = deps.settings.get();
      return {
        needed: !(await hasUsedAttune(settings)),
        suggestedFolder: suggested(),
        chosenFolder: chosen,
        currentFolder: settings.workspace,
        sample: await samplePreview(deps.resourcesDir),
      };
    },

    /** main's folder dialog; the answer is kept for finish({ folder: 'chosen' }). */
    async chooseFolder(): Promise<string | null> {
      const dir = await deps.openFolder({ title: 'Choose the folder for your Attune projects' });
      if (dir) chosen = dir;
      return dir;
    },

    /** Creates the projects folder, makes it the workspace, and marks the first run done. */
    async finish(req: { folder: 'suggested' | 'chosen' }): Promise<Settings> {
      const dir = req.folder === 'chosen' ? chosen : suggested();
      if (!dir) throw new AttuneError('welcome.no-folder-chosen');
      try {
        await new Workspace(dir).ensure();
        await access(dir, constants.W_OK);
      } catch (err) {
        throw new AttuneError(
          'welcome.folder-unusable',
          { file: dir, detail: (err as NodeJS.ErrnoException).code === 'EACCES' || (err as NodeJS.ErrnoException).code === 'EPERM' ? 'it may not be changed by you' : (err as Error).message },
          { file: dir },
        );
      }
      const current = deps.settings.get().workspace;
      return deps.settings.update({ workspace: dir, firstRunDone: true, ...(dir !== current ? { recentProjects: [] } : {}) });
    },
  };
}

export type FirstRun = ReturnType<typeof createFirstRun>;

