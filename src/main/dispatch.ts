/**
 * Validates a request against the contract, calls its handler, and wraps the outcome in an
 * envelope. Shared by the IPC layer (ipc.ts) and the end-to-end HTTP transport.
 */
import { ZodError, type ZodType } from 'zod';
import { calls, type AppError, type CallName, type Envelope } from '../shared/contract.js';
import { toUserError, userError } from '../shared/errors.js';
import { requestProblemText } from '../shared/field-messages.js';
import type { Handlers } from './handlers.js';

export function isCallName(name: unknown): name is CallName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(calls, name);
}

/**
 * The same conversion as the CLI's (src/shared/errors.ts toUserError); a refused request is worded
 * from its schema (`schema`), as the app's fields are.
 */
export function toAppError(err: unknown, schema?: ZodType): AppError {
  if (err instanceof ZodError && schema) return { code: userError('app.bad-request').code, message: requestProblemText(schema, err) };
  return toUserError(err);
}

export async function dispatch(handlers: Handlers, name: unknown, request: unknown): Promise<Envelope<unknown>> {
  if (!isCallName(name)) return { ok: false, error: userError('app.unknown-call') };
  try {
    const parsed = calls[name].request.safeParse(request ?? {});
    if (!parsed.success) return { ok: false, error: toAppError(parsed.error, calls[name].request) };
    const handler = handlers[name] as (r: unknown) => Promise<unknown>;
    return { ok: true, value: await handler(parsed.data) };
  } catch (err) {
    return { ok: false, error: toAppError(err) };
  }
}
