/**
 * An error meant for a person: `message` is one plain-language sentence (what is wrong and,
 * where it helps, what to do). `code` lets the CLI and the UI look up the same catalogue entry.
 */
export class AttuneError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: { file?: string; line?: number; field?: string } = {},
  ) {
    super(message);
    this.name = 'AttuneError';
  }
}

export function isAttuneError(err: unknown): err is AttuneError {
  return err instanceof Error && err.name === 'AttuneError';
}
