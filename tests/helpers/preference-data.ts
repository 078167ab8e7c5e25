/**
 * Small synthetic preference data for tests on the real stories260K model: notes signed one way
 * (the answer an earlier tune taught) and the way the person prefers, on the prompts of
 * instruction-data.ts (held-out prompts use names never seen in training).
 */
import { writeFileSync } from 'node:fs';
import { instructionFor, THINGS, TRAIN_NAMES } from './instruction-data.js';

export const note = (name: string, thing: string) => `Dear ${name}, the ${thing} is here.`;
/** The signature the first tune teaches, and the one the person prefers. */
export const OLD_SIGNATURE = 'From Tom.';
export const PREFERRED_SIGNATURE = 'Love, Sue.';
export const signed = (name: string, thing: string, signature: string) => `${note(name, thing)} ${signature}`;

/**
 * Instruction examples of the first tune: signed the old way, except every `preferredEvery`-th
 * one (0 = none), which is signed the preferred way, so the first tune answers the old way but
 * has seen the preferred answer (as a model that sometimes writes the better answer).
 */
export function writeOldStyleJsonl(file: string, names = TRAIN_NAMES, preferredEvery = 0): void {
  const rows = names.flatMap((name, i) =>
    THINGS.map((thing, j) => {
      const signature = preferredEvery && (i + j) % preferredEvery === 0 ? PREFERRED_SIGNATURE : OLD_SIGNATURE;
      return { messages: [{ role: 'user', content: instructionFor(name, thing) }, { role: 'assistant', content: signed(name, thing, signature) }] };
    }),
  );
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

/** Preference pairs (TRL's prompt/chosen/rejected): chosen signs the preferred way, rejected the old way. */
export function writePreferenceJsonl(file: string, names = TRAIN_NAMES): void {
  const rows = names.flatMap((name) =>
    THINGS.map((thing) => ({ prompt: instructionFor(name, thing), chosen: signed(name, thing, PREFERRED_SIGNATURE), rejected: signed(name, thing, OLD_SIGNATURE) })),
  );
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
