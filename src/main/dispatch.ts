/**
 * Validates a request against the contract, calls its handler, and wraps the outcome in an
 * envelope. Shared by the IPC layer (ipc.ts) and the end-to-end HTTP transport.
 */
import { z, ZodError, type ZodType } from 'zod';
import { calls, type AppError, type CallName, type Envelope } from '../shared/contract.js';
import { isAttuneError } from '../shared/errors.js';
import { requestProblemText } from '../shared/field-messages.js';
import type { Handlers } from './handlers.js';

export function isCallName(name: unknown): name is CallName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(calls, name);
}

/** `schema`: the request's schema, for refusals of a request (words the field's allowed values, as the app's fields do). */
export function toAppError(err: unknown, schema?: ZodType): AppError {
  if (isAttuneError(err)) return { code: err.code, message: err.message, details: err.details };
  if (err instanceof ZodError) return { code: 'bad-request', message: requestProblemText(schema ?? z.unknown(), err) };
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal', message: `Something went wrong inside Attune: ${message}` };
}

export async function dispatch(handlers: Handlers, name: unknown, request: unknown): Promise<Envelope<unknown>> {
  if (!isCallName(name)) return { ok: false, error: { code: 'unknown-call', message: 'Unknown request.' } };
  try {
    const parsed = calls[name].request.safeParse(request ?? {});
    if (!parsed.success) return { ok: false, error: toAppError(parsed.error, calls[name].request) };
    const handler = handlers[name] as (r: unknown) => Promise<unknown>;
    return { ok: true, value: await handler(parsed.data) };
  } catch (err) {
    return { ok: false, error: toAppError(err) };
  }
}
