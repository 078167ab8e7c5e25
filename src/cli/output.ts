/**
 * The CLI's edge: one place that turns errors into a one-line, plain-language message (or a JSON
 * object with --json) and a non-zero exit code.
 */
import { toUserError } from '../shared/errors.js';

export interface GlobalFlags {
  json?: boolean;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/**
 * The same conversion as the app's (src/shared/errors.ts toUserError): errors from the engine
 * carry a code and a message meant for people; others get a generic lead-in. One line each.
 */
export function describeError(err: unknown): { code: string; message: string } {
  const { code, message } = toUserError(err);
  return { code, message: message.split('\n')[0]! };
}

export function failAndExit(err: unknown, json: boolean): never {
  const { code, message } = describeError(err);
  if (process.env.ATTUNE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  if (json) printJson({ error: { code, message } });
  else process.stderr.write(`attune: ${message}\n`);
  process.exit(code === 'internal' ? 70 : 1);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(n >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}
