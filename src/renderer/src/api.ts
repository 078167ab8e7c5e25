/** The bridge the preload put on window (or the end-to-end test's bridge: same shape). */
import type { AttuneApi } from '../../shared/bridge.js';

declare global {
  interface Window {
    attune: AttuneApi;
  }
}

export const attune: AttuneApi = window.attune;

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
