/**
 * Test-only bridge, injected into the page before it loads (page.addInitScript): the same
 * `window.attune` the preload builds, carried over HTTP (POST /rpc/<call>) and Server-Sent
 * Events (GET /events) to the real handlers in the test process.
 */
import { buildApi, type Transport } from '../../src/shared/bridge.js';
import type { Envelope, EventName } from '../../src/shared/contract.js';

// Typed without the DOM library (this folder is checked with the Node settings): the two browser APIs it uses.
interface BrowserGlobals {
  EventSource: new (url: string) => { onmessage: ((m: { data: string }) => void) | null };
  fetch: typeof fetch;
}
const g = globalThis as unknown as BrowserGlobals;

const listeners = new Map<EventName, Set<(p: unknown) => void>>();
let source: InstanceType<BrowserGlobals['EventSource']> | undefined;

function connect(): void {
  if (source) return;
  source = new g.EventSource('/events');
  source.onmessage = (m) => {
    const { name, payload } = JSON.parse(m.data) as { name: EventName; payload: unknown };
    for (const l of listeners.get(name) ?? []) l(payload);
  };
}

const transport: Transport = {
  async invoke(name, request) {
    const res = await g.fetch(`/rpc/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request) });
    return (await res.json()) as Envelope<unknown>;
  },
  subscribe(name, listener) {
    connect();
    let set = listeners.get(name);
    if (!set) listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => void set.delete(listener);
  },
};

Object.defineProperty(globalThis, 'attune', { value: buildApi(transport), writable: false, configurable: false });
