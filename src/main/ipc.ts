/**
 * Registers one ipcMain handler per contract call. Every request must come from the main frame of
 * our own window, loaded from our own page; anything else is refused before validation.
 */
import { ipcMain, type BrowserWindow, type IpcMainInvokeEvent, type WebFrameMain } from 'electron';
import { callChannel, callNames, eventChannel, type EventName, type Payload } from '../shared/contract.js';
import { dispatch } from './dispatch.js';
import { isTrustedUrl } from './trust.js';
import type { Handlers } from './handlers.js';

export function registerIpc(handlers: Handlers, getWindow: () => BrowserWindow | undefined, rendererUrl: string): () => void {
  const trusted = (event: IpcMainInvokeEvent): boolean => {
    const win = getWindow();
    const frame: WebFrameMain | null = event.senderFrame;
    return !!win && !win.isDestroyed() && event.sender === win.webContents && !!frame && frame === win.webContents.mainFrame && isTrustedUrl(frame.url, rendererUrl);
  };
  for (const name of callNames) {
    ipcMain.handle(callChannel(name), (event, request: unknown) => {
      if (!trusted(event)) return { ok: false, error: { code: 'untrusted-sender', message: 'Request refused.' } };
      return dispatch(handlers, name, request);
    });
  }
  return () => {
    for (const name of callNames) ipcMain.removeHandler(callChannel(name));
  };
}

/** Sends an event to our window (if it is still open). */
export function emitter(getWindow: () => BrowserWindow | undefined) {
  return <K extends EventName>(name: K, payload: Payload<K>): void => {
    const win = getWindow();
    if (win && !win.isDestroyed()) win.webContents.send(eventChannel(name), payload);
  };
}
