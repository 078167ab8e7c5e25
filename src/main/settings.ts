/**
 * Settings and recent projects behind a small interface: the app keeps them in electron-store
 * (settings-store.ts), tests and the end-to-end transport in memory.
 */
import os from 'node:os';
import path from 'node:path';
import type { Settings } from '../shared/contract.js';
import { isDeviceChoice } from '../shared/devices.js';

export interface SettingsStore {
  get(): Settings;
  update(patch: Partial<Settings>): Settings;
}

export const MAX_RECENT = 10;

export function defaultSettings(home = os.homedir()): Settings {
  return { workspace: path.join(home, 'Attune'), theme: 'system', recentProjects: [], addedModels: [], device: 'auto' };
}

/** Keeps only known keys with the right types, so a damaged settings file cannot break the app. */
export function sanitizeSettings(raw: unknown, defaults: Settings): Settings {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Partial<Record<keyof Settings, unknown>>;
  const out: Settings = { ...defaults };
  if (typeof r.workspace === 'string' && path.isAbsolute(r.workspace)) out.workspace = r.workspace;
  if (r.theme === 'light' || r.theme === 'dark' || r.theme === 'system') out.theme = r.theme;
  if (Array.isArray(r.recentProjects)) out.recentProjects = r.recentProjects.filter((x): x is string => typeof x === 'string').slice(0, MAX_RECENT);
  if (Array.isArray(r.addedModels)) {
    out.addedModels = r.addedModels.filter(
      (m): m is Settings['addedModels'][number] =>
        !!m && typeof m === 'object' && typeof (m as { path?: unknown }).path === 'string' && ((m as { kind?: unknown }).kind === 'folder' || (m as { kind?: unknown }).kind === 'gguf'),
    );
  }
  if (r.firstRunDone === true) out.firstRunDone = true;
  if (isDeviceChoice(r.device)) out.device = r.device;
  if (typeof r.hubEndpoint === 'string' && r.hubEndpoint.trim()) out.hubEndpoint = r.hubEndpoint.trim();
  else delete out.hubEndpoint;
  return out;
}

export function memorySettings(initial: Partial<Settings> = {}, home?: string): SettingsStore {
  let current = sanitizeSettings({ ...defaultSettings(home), ...initial }, defaultSettings(home));
  return {
    get: () => structuredClone(current),
    update(patch) {
      current = sanitizeSettings({ ...current, ...patch }, current);
      return structuredClone(current);
    },
  };
}

/** Puts `name` first in the recent list. */
export function touchRecent(store: SettingsStore, name: string): Settings {
  const recent = [name, ...store.get().recentProjects.filter((n) => n !== name)].slice(0, MAX_RECENT);
  return store.update({ recentProjects: recent });
}

export function addModel(store: SettingsStore, model: Settings['addedModels'][number]): Settings {
  const added = store.get().addedModels.filter((m) => m.path !== model.path);
  return store.update({ addedModels: [...added, model] });
}
