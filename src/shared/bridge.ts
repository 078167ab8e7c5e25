/**
 * Builds the `window.attune` object from the contract: one verb per call, one `onX` subscription
 * per event. The preload passes an IPC transport; the end-to-end test passes an HTTP one. Either
 * way the page sees only verbs, never the transport.
 */
import { callNames, eventNames, type CallName, type Envelope, type EventName, type Payload, type ReqIn, type Res, type AppError } from './contract.js';

type Namespace<K extends string> = K extends `${infer N}.${string}` ? N : never;

export type AttuneApi = {
  [N in Namespace<CallName> | Namespace<EventName>]: {
    [K in CallName as K extends `${N}.${infer V}` ? V : never]: (req: ReqIn<K>) => Promise<Res<K>>;
  } & {
    [K in EventName as K extends `${N}.${infer V}` ? `on${Capitalize<V>}` : never]: (listener: (payload: Payload<K>) => void) => () => void;
  };
};

/** What a bridge needs from its carrier. `invoke` resolves with the envelope main sent. */
export interface Transport {
  invoke(name: CallName, request: unknown): Promise<Envelope<unknown>>;
  /** Returns a function that stops the subscription. */
  subscribe(name: EventName, listener: (payload: unknown) => void): () => void;
}

/** Thrown in the renderer when main answers a call with an error. */
export class BridgeError extends Error {
  readonly code: string;
  readonly details?: AppError['details'];
  constructor(error: AppError) {
    super(error.message);
    this.name = 'BridgeError';
    this.code = error.code;
    this.details = error.details;
  }
}

export function buildApi(transport: Transport): AttuneApi {
  const api: Record<string, Record<string, unknown>> = {};
  const ns = (name: string) => (api[name] ??= {});
  for (const name of callNames) {
    const [n, verb] = name.split('.') as [string, string];
    ns(n)[verb] = async (request: unknown) => {
      const env = await transport.invoke(name, request ?? {});
      if (!env.ok) throw new BridgeError(env.error);
      return env.value;
    };
  }
  for (const name of eventNames) {
    const [n, verb] = name.split('.') as [string, string];
    ns(n)[`on${verb[0]!.toUpperCase()}${verb.slice(1)}`] = (listener: (p: unknown) => void) => {
      if (typeof listener !== 'function') throw new TypeError('A listener must be a function.');
      return transport.subscribe(name, listener);
    };
  }
  for (const v of Object.values(api)) Object.freeze(v);
  return Object.freeze(api) as unknown as AttuneApi;
}
