/** How the app names one example, the same in every step: its number in its list and the row of the person's file. */
import type { ExamplePlace } from '../../shared/engine-results.js';

/** "example 85 to learn from (row 92 of your file)". */
export function placeText(w: ExamplePlace): string {
  const list = w.split === 'train' ? 'to learn from' : 'held out';
  return `example ${w.number} ${list}${w.row ? ` (row ${w.row} of your file)` : ''}`;
}
