/**
 * Editing the imported examples from the Data step: an edit is checked as the importer checks a
 * row (no empty question or answer), and a removal can be undone (the removed example goes back
 * where it was, with its id, so it lands in the same split).
 */
import { AttuneError } from '../../shared/errors.js';

interface Message {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

const FIELD: Record<Message['role'], string> = { user: 'question', assistant: 'answer', system: 'instructions' };

/** Throws, in words, when an edited example has an empty question, answer or instructions. `n`: its number as the page shows it. */
export function checkEditedExample(messages: readonly Message[], n: number): void {
  const empty = messages.find((m) => m.content.trim() === '');
  if (empty) {
    const field = FIELD[empty.role];
    throw new AttuneError('data.edit-empty', { n, field }, { field });
  }
  if (!messages.some((m) => m.role === 'assistant')) {
    throw new AttuneError('data.edit-empty', { n, field: 'answer' }, { field: 'answer' });
  }
}

/** The last example removed in each project, to put back on Undo (kept while the app runs). */
export class RemovedExamples<T> {
  private readonly last = new Map<string, { example: T; at: number }>();

  remember(project: string, example: T, at: number): void {
    this.last.set(project, { example, at });
  }

  /** Puts the last removed example back into `all` (in place) at its old position; throws when there is none. */
  restore(project: string, all: T[]): T {
    const r = this.last.get(project);
    if (!r) throw new AttuneError('data.undo-nothing');
    this.last.delete(project);
    all.splice(Math.min(r.at, all.length), 0, r.example);
    return r.example;
  }

  /** New data replaces the old: nothing to undo any more. */
  forget(project: string): void {
    this.last.delete(project);
  }
}
