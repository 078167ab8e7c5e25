/** Which URLs are our own page (no Electron import, so it is testable under Node). */
/** True for our renderer: the packaged file or, in development, the electron-vite dev server. */
export function isTrustedUrl(url: string, rendererUrl: string): boolean {
  try {
    const u = new URL(url);
    const r = new URL(rendererUrl);
    if (r.protocol === 'file:') return u.protocol === 'file:' && u.pathname === r.pathname;
    return u.origin === r.origin;
  } catch {
    return false;
  }
}
