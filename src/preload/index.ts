/**
 * The bridge: `window.attune` with one verb per contract call and one `onX` subscription per
 * event. The page never sees ipcRenderer, channel names or a generic invoke.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { buildApi, type Transport } from '../shared/bridge.js';
import { callChannel, eventChannel, type Envelope } from '../shared/contract.js';

const transport: Transport = {
  invoke: (name, request) => ipcRenderer.invoke(callChannel(name), request) as Promise<Envelope<unknown>>,
  subscribe(name, listener) {
    const wrapped = (_e: IpcRendererEvent, payload: unknown) => listener(payload);
    ipcRenderer.on(eventChannel(name), wrapped);
    return () => {
      ipcRenderer.removeListener(eventChannel(name), wrapped);
    };
  },
};

contextBridge.exposeInMainWorld('attune', buildApi(transport));
