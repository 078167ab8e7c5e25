/**
 * Models the person added from outside the workspace (a folder or a GGUF file): forgetting one.
 * Attune never deletes the person's files; removing only takes the model off the list.
 */
import type { SettingsStore } from '../settings.js';

/** Takes `modelPath` off the added models; false when it was not one of them (workspace models stay). */
export function removeAddedModel(store: SettingsStore, modelPath: string): boolean {
  const added = store.get().addedModels;
  const kept = added.filter((m) => m.path !== modelPath);
  if (kept.length === added.length) return false;
  store.update({ addedModels: kept });
  return true;
}
