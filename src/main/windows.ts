/**
 * The one window, with secure defaults in one place: context isolation, sandbox, no Node in the
 * page, navigation and new windows denied, permissions refused, no remote content.
 */
import { BrowserWindow, session, shell } from 'electron';
import { fileURLToPath } from 'node:url';
import { isTrustedUrl } from './trust.js';

export interface WindowOptions {
  preload: string;
  /** file:// URL of out/renderer/index.html, or the dev server URL. */
  rendererUrl: string;
  icon?: string;
}

export function hardenSession(rendererUrl: string): void {
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  // No request leaves the machine: only our own page, devtools, and data/blob URLs load.
  ses.webRequest.onBeforeRequest((details, callback) => {
    const u = details.url;
    const ok = u.startsWith('file:') || u.startsWith('devtools:') || u.startsWith('data:') || u.startsWith('blob:') || isTrustedUrl(u, rendererUrl);
    callback({ cancel: !ok });
  });
}

export function createMainWindow(opts: WindowOptions): BrowserWindow {
  const win = new BrowserWindow({
    width: 1200,
    height: 820,
    minWidth: 760,
    minHeight: 560,
    show: false,
    title: 'Attune',
    icon: opts.icon,
    backgroundColor: '#1b1d22',
    webPreferences: {
      preload: opts.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webviewTag: false,
      spellcheck: true,
    },
  });
  win.once('ready-to-show', () => win.show());
  win.webContents.setWindowOpenHandler(({ url }) => {
    // Links a person clicks (documentation) open in their browser, only when they ask for it.
    if (url.startsWith('https://')) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (event, url) => {
    if (!isTrustedUrl(url, opts.rendererUrl)) event.preventDefault();
  });
  win.webContents.on('will-attach-webview', (event) => event.preventDefault());
  if (opts.rendererUrl.startsWith('file:')) void win.loadFile(fileURLToPath(opts.rendererUrl));
  else void win.loadURL(opts.rendererUrl);
  return win;
}
