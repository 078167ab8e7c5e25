/**
 * A small instruction set in a fixed answer style, for tuning tests on the real stories260K
 * model: every answer greets by name and ends the same way, so "follows the style" is checkable,
 * and held-out prompts use names never seen in training.
 */
import { writeFileSync } from 'node:fs';

export const TRAIN_NAMES = [
  'Tom', 'Lily', 'Sue', 'Ben', 'Max', 'Mia', 'Sam', 'Amy', 'Tim', 'Sara', 'Jack', 'Lucy', 'Bob', 'Anna', 'Joe', 'Kate',
  'Dan', 'Emma', 'Leo', 'Zoe', 'Jim', 'Ella', 'Ted', 'Rose',
];
export const HELD_OUT_NAMES = ['Mary', 'Nick', 'Jane', 'Paul', 'Lisa', 'Mark', 'Eve', 'Fred'];
export const THINGS = ['ball', 'cat', 'dog', 'tree', 'car', 'cake', 'bird', 'boat'];

export function styledAnswer(name: string, thing: string): string {
  return `Dear ${name}, the ${thing} is here. Have a nice day!`;
}

export function instructionFor(name: string, thing: string): string {
  return `Where is the ${thing}? Ask for ${name}.`;
}

export function instructionExamples(names: string[], things = THINGS) {
  const out: { messages: { role: 'user' | 'assistant'; content: string }[] }[] = [];
  for (const name of names) for (const thing of things) out.push({ messages: [{ role: 'user', content: instructionFor(name, thing) }, { role: 'assistant', content: styledAnswer(name, thing) }] });
  return out;
}

export function writeInstructionJsonl(file: string, names = TRAIN_NAMES): void {
  writeFileSync(file, instructionExamples(names).map((e) => JSON.stringify(e)).join('\n') + '\n');
}
