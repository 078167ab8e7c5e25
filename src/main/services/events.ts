/** How services tell the page what happened (main wires it to IPC; tests record it). */
import type { EventName, Payload } from '../../shared/contract.js';

export type Emit = <K extends EventName>(name: K, payload: Payload<K>) => void;
