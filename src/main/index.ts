/** Electron entry: wires settings, workspace, engine, jobs and IPC, then opens the window. */
import { app, BrowserWindow, dialog, safeStorage, shell } from 'electron';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createEngineFacade } from './engine-facade.js';
import { createHandlers, type Dialogs } from './handlers.js';
import { emitter, registerIpc } from './ipc.js';
import { electronRunner } from './jobs/electron-runner.js';
import { JobManager } from './jobs/manager.js';
import { childDeviceProbe, withChildProbe } from './services/device-probe.js';
import { electronSettings } from './settings-store.js';
import { HubTokenStore } from './services/hub-token.js';
import { Workspace } from './workspace.js';
import { createMainWindow, hardenSession } from './windows.js';

let mainWindow: BrowserWindow | undefined;
const here = path.dirname(fileURLToPath(import.meta.url));

function resourcesDir(): string {
  return app.isPackaged ? path.join(process.resourcesPath, 'resources') : path.join(app.getAppPath(), 'resources');
}

async function main(): Promise<void> {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  await app.whenReady();
  const devUrl = !app.isPackaged ? process.env['ELECTRON_RENDERER_URL'] : undefined;
  const rendererUrl = devUrl ?? pathToFileURL(path.join(here, '../renderer/index.html')).href;
  hardenSession(rendererUrl);

  const settings = electronSettings();
  // Before the first run has chosen it, no folder is made (the first run asks where projects go).
  if (settings.get().firstRunDone) await new Workspace(settings.get().workspace).ensure();
  const getWindow = () => mainWindow;
  const dialogs: Dialogs = {
    async openFile({ title, filters }) {
      const r = await dialog.showOpenDialog(mainWindow!, { title, filters, properties: ['openFile'] });
      return r.canceled ? null : (r.filePaths[0] ?? null);
    },
    async openFolder({ title }) {
      const r = await dialog.showOpenDialog(mainWindow!, { title, properties: ['openDirectory', 'createDirectory'] });
      return r.canceled ? null : (r.filePaths[0] ?? null);
    },
    async reveal(p) {
      shell.showItemInFolder(p);
    },
  };
  const jobs = new JobManager(electronRunner(path.join(here, 'tune-worker.js')));
  // GPU drivers load in a child process: one that crashes there cannot take the window.
  const probe = childDeviceProbe(electronRunner(path.join(here, 'probe-worker.js'), 'Attune device check'));
  const handlers = createHandlers({
    engine: withChildProbe(createEngineFacade(), probe),
    settings,
    jobs,
    dialogs,
    emit: emitter(getWindow),
    resourcesDir: resourcesDir(),
    version: app.getVersion(),
    documentsDir: app.getPath('documents'),
    platform: process.platform,
    machine: () => ({ totalMemoryBytes: os.totalmem(), freeMemoryBytes: os.freemem(), cpus: os.cpus().length }),
    hubToken: new HubTokenStore(path.join(app.getPath('userData'), 'hub-token.json'), safeStorage),
    estimateRunner: electronRunner(path.join(here, 'estimate-worker.js'), 'Attune time measurement'),
  });
  registerIpc(handlers, getWindow, rendererUrl);

  const open = () => {
    mainWindow = createMainWindow({ preload: path.join(here, '../preload/index.cjs'), rendererUrl });
    mainWindow.on('closed', () => (mainWindow = undefined));
  };
  open();
  void probe();
  app.on('second-instance', () => {
    if (mainWindow?.isMinimized()) mainWindow.restore();
    mainWindow?.focus();
  });
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) open();
  });
  let quitting = false;
  app.on('before-quit', (e) => {
    if (quitting) return;
    quitting = true;
    e.preventDefault();
    // Pause training so it can resume next time, then quit.
    void handlers.dispose().finally(() => app.quit());
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
}

void main();
