import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { estimateTrainingSeconds, exampleLength, lengthStats, splitExamples, type Example } from '../../../src/engine/data/index.js';
import { DuplicateIndex, conversationId, minhashSignature, normaliseForSimilarity } from '../../../src/engine/data/dedupe.js';
import { findMojibake } from '../../../src/engine/data/mojibake.js';

function ex(i: number, len: number): Example {
  const messages = [
    { role: 'user' as const, content: `q${i}` },
    { role: 'assistant' as const, content: 'x'.repeat(len) },
  ];
  return { id: conversationId(messages), messages, source: { file: 'f', line: i + 1 } };
}

describe('splitExamples', () => {
  const examples = Array.from({ length: 200 }, (_, i) => ex(i, 10 + ((i * 37) % 500)));

  it('is seeded, exact in size and independent of input order', () => {
    const a = splitExamples(examples, { valFraction: 0.1, seed: 7 });
    const b = splitExamples(examples, { valFraction: 0.1, seed: 7 });
    expect(a.validation.map((e) => e.id)).toEqual(b.validation.map((e) => e.id));
    expect(a.validation).toHaveLength(20);
    expect(a.train).toHaveLength(180);
    const shuffled = [...examples].reverse();
    const c = splitExamples(shuffled, { valFraction: 0.1, seed: 7 });
    expect(new Set(c.validation.map((e) => e.id))).toEqual(new Set(a.validation.map((e) => e.id)));
    const d = splitExamples(examples, { valFraction: 0.1, seed: 8 });
    expect(d.validation.map((e) => e.id)).not.toEqual(a.validation.map((e) => e.id));
  });

  it('is stratified by length: one validation example from each length decile', () => {
    const { validation } = splitExamples(examples, { valFraction: 0.1, seed: 1 });
    const sorted = [...examples].map(exampleLength).sort((x, y) => x - y);
    const lengths = validation.map(exampleLength).sort((x, y) => x - y);
    for (let g = 0; g < 20; g++) {
      expect(lengths[g]).toBeGreaterThanOrEqual(sorted[g * 10]!);
      expect(lengths[g]).toBeLessThanOrEqual(sorted[g * 10 + 9]!);
    }
  });

  it('never loses or repeats an example (any size, fraction and seed)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), fc.double({ min: 0, max: 0.9, noNaN: true }), fc.integer(), (n, f, seed) => {
        const xs = examples.slice(0, n);
        const { train, validation } = splitExamples(xs, { valFraction: f, seed });
        expect(train.length + validation.length).toBe(n);
        expect(new Set([...train, ...validation].map((e) => e.id)).size).toBe(n);
        if (n >= 2 && f > 0) expect(validation.length).toBeGreaterThanOrEqual(1);
        expect(train.length >= 1 || n === 0).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});

describe('statistics', () => {
  it('percentiles, histogram and the time estimate', () => {
    const s = lengthStats([5, 1, 3, 2, 4, 10, 7, 8, 9, 6]);
    expect(s).toMatchObject({ min: 1, p50: 5, p90: 9, max: 10, total: 55, mean: 5.5 });
    expect(s.histogram.counts.reduce((a, b) => a + b, 0)).toBe(10);
    expect(s.histogram.edges[0]).toBe(0);
    expect(s.histogram.edges.at(-1)!).toBeGreaterThan(10);
    expect(lengthStats([])).toMatchObject({ min: 0, max: 0, total: 0 });
    expect(estimateTrainingSeconds(1000, 3, 100)).toBe(30);
  });
});

describe('duplicates and mojibake', () => {
  it('near duplicates: case, punctuation and a small edit in a long text; different texts are not', () => {
    const idx = new DuplicateIndex<string>();
    const add = (t: string, name: string) => {
      const m = [{ role: 'user' as const, content: 'Q' }, { role: 'assistant' as const, content: t }];
      const k = idx.prepare(conversationId(m), m);
      const hit = idx.check(k);
      if (!hit) idx.add(k, name);
      return hit;
    };
    const base = 'Thank you for your message. We are sorry that your parcel is late; the courier has told us it will arrive on Monday, and we have refunded the delivery charge to your card. If it does not arrive by Tuesday, please reply and we will send a replacement straight away with express delivery at no cost to you.';
    expect(add(base, 'first')).toBeUndefined();
    expect(add(base.toUpperCase().replace(/[.;,]/g, '!'), 'b')).toMatchObject({ kind: 'near', first: 'first', similarity: 1 });
    const edited = add(base.replace('Monday', 'Wednesday'), 'c');
    expect(edited?.kind).toBe('near');
    expect(edited!.similarity).toBeGreaterThanOrEqual(0.9);
    expect(add('Your refund was sent today and should show within five working days.', 'd')).toBeUndefined();
    expect(add(base, 'e')).toMatchObject({ kind: 'exact', first: 'first' });
  });

  it('signatures estimate Jaccard similarity', () => {
    const a = minhashSignature(normaliseForSimilarity('one two three four five six seven eight nine ten'));
    const b = minhashSignature(normaliseForSimilarity('eleven twelve thirteen fourteen fifteen sixteen'));
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
    expect(same).toBeLessThan(8);
  });

  it('finds typical UTF-8-read-as-1252 sequences and leaves real accents alone', () => {
    for (const bad of ['cafÃ©', 'donâ€™t', 'Â£20', 'â€œquotedâ€\u009d', 'naÃ¯ve', 'Ã‰cole']) expect(findMojibake(bad), bad).toBeDefined();
    for (const good of ['café', 'don’t', '£20', '“quoted”', 'naïve', 'École', 'São Paulo', 'Ärger', 'Ångström', 'Ça va', 'Ãrvore']) {
      expect(findMojibake(good), good).toBeUndefined();
    }
  });
});
