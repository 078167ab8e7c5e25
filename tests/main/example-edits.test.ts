import { describe, expect, it } from 'vitest';
import { checkEditedExample, RemovedExamples } from '../../src/main/services/example-edits.js';

describe('editing examples', () => {
  it('refuses an empty answer or question in words, as the importer would', () => {
    expect(() => checkEditedExample([{ role: 'user', content: 'Hi?' }, { role: 'assistant', content: '  ' }], 3)).toThrow(
      'Example 3: the answer is empty; write some text, or remove the example instead.',
    );
    expect(() => checkEditedExample([{ role: 'user', content: '' }, { role: 'assistant', content: 'Yes.' }], 1)).toThrow(/^Example 1: the question is empty/);
    expect(() => checkEditedExample([{ role: 'user', content: 'Hi?' }], 2)).toThrow(/^Example 2: the answer is empty/);
    expect(() => checkEditedExample([{ role: 'user', content: 'Hi?' }, { role: 'assistant', content: 'Hello.' }], 1)).not.toThrow();
  });

  it('puts the last removed example back where it was, once', () => {
    const removed = new RemovedExamples<string>();
    const all = ['a', 'b', 'c'];
    const [gone] = all.splice(1, 1);
    removed.remember('p', gone!, 1);
    expect(removed.restore('p', all)).toBe('b');
    expect(all).toEqual(['a', 'b', 'c']);
    expect(() => removed.restore('p', all)).toThrow('There is no removed example to bring back.');
    removed.remember('p', 'x', 0);
    removed.forget('p');
    expect(() => removed.restore('p', all)).toThrow(/no removed example/);
  });
});
