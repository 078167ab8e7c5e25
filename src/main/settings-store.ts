/** Settings persisted with electron-store (main process only). */
import Store from 'electron-store';
import type { Settings } from '../shared/contract.js';
import { defaultSettings, sanitizeSettings, type SettingsStore } from './settings.js';

export function electronSettings(): SettingsStore {
  const defaults = defaultSettings();
  const store = new Store<Settings>({ name: 'settings', defaults, clearInvalidConfig: true });
  return {
    get: () => sanitizeSettings(store.store, defaults),
    update(patch) {
      const next = sanitizeSettings({ ...sanitizeSettings(store.store, defaults), ...patch }, defaults);
      store.store = next;
      return next;
    },
  };
}
