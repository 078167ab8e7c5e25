import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { advanced, calls, projectName, sampling } from '../../src/shared/contract.js';
import { describeNumber, fieldProblem, requestProblemText } from '../../src/shared/field-messages.js';

describe('field messages', () => {
  it('words a number field from its schema, for every refusal of it', () => {
    for (const v of [0, -3, 1.5, Number.NaN, 1000]) expect(fieldProblem(advanced.shape.rank, v)).toBe('Use a whole number from 1 to 256.');
    expect(fieldProblem(advanced.shape.learningRate, 0)).toBe('Use a number above 0 and at most 1.');
    expect(fieldProblem(advanced.shape.learningRate, 5)).toBe('Use a number above 0 and at most 1.');
    expect(fieldProblem(advanced.shape.seed, 1.5)).toBe('Use a whole number from 0 to 2,147,483,647.');
    expect(fieldProblem(sampling.shape.temperature, -1)).toBe('Use a number from 0 to 5.');
    expect(fieldProblem(sampling.shape.topP, 2)).toBe('Use a number above 0 and at most 1.');
    expect(fieldProblem(advanced.shape.batchSize, 4)).toBeUndefined();
    expect(describeNumber(z.number().int().min(1))).toBe('a whole number of at least 1');
  });

  it('keeps a schema’s own plain message, with one full stop, and allows apostrophes in project names', () => {
    expect(fieldProblem(projectName, '../x')).toBe('Use letters, digits, spaces, apostrophes, dots, dashes or underscores, starting with a letter or digit.');
    expect(fieldProblem(projectName, "Bob's shop")).toBeUndefined();
  });

  it('names the field in a refused request, as main says it', () => {
    const schema = calls['tune.start'].request;
    const r = schema.safeParse({ project: 'p', modelPath: 'm', preset: 'quick', advanced: { epochs: 0 } });
    expect(r.success).toBe(false);
    expect(requestProblemText(schema, r.error!)).toBe('Epochs: use a whole number from 1 to 1000.');
  });
});
