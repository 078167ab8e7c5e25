/** Where a run's exports go, and which paths may be shown in the file manager. */
import path from 'node:path';
import type { Workspace } from '../workspace.js';

/** One folder per run and format in the project's exports. */
export function exportDir(ws: Workspace, project: string, runId: string, format: string): string {
  return path.join(ws.exportsDir(project), `${runId}-${format}`);
}

/** Whether `p` lies inside `dir` (no `..` escape, no other root). */
export function isInside(dir: string, p: string): boolean {
  const rel = path.relative(dir, path.resolve(p));
  return !rel.startsWith('..') && !path.isAbsolute(rel);
}
