/**
 * Validates a request against the contract, calls its handler, and wraps the outcome in an
 * envelope. Shared by the IPC layer (ipc.ts) and the end-to-end HTTP transport.
 */
import { ZodError } from 'zod';
import { calls, type AppError, type CallName, type Envelope } from '../shared/contract.js';
import { isAttuneError } from '../shared/errors.js';
import type { Handlers } from './handlers.js';

export function isCallName(name: unknown): name is CallName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(calls, name);
}

export function toAppError(err: unknown): AppError {
  if (isAttuneError(err)) return { code: err.code, message: err.message, details: err.details };
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    const where = issue?.path.length ? ` (${issue.path.join('.')})` : '';
    return { code: 'bad-request', message: `The request was not valid${where}: ${issue?.message ?? 'unknown problem'}.` };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal', message: `Something went wrong inside Attune: ${message}` };
}

export async function dispatch(handlers: Handlers, name: unknown, request: unknown): Promise<Envelope<unknown>> {
  if (!isCallName(name)) return { ok: false, error: { code: 'unknown-call', message: 'Unknown request.' } };
  try {
    const parsed = calls[name].request.parse(request ?? {});
    const handler = handlers[name] as (r: unknown) => Promise<unknown>;
    return { ok: true, value: await handler(parsed) };
  } catch (err) {
    return { ok: false, error: toAppError(err) };
  }
}
