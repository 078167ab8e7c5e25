/**
 * The project's normalised examples: one `Example` as JSON per line (UTF-8, "\n").
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { AttuneError } from '../../shared/errors.js';
import type { Example } from './types.js';

export const ExampleSchema = z.object({
  id: z.string().min(1),
  messages: z
    .array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }))
    .min(2),
  rejected: z.string().optional(),
  source: z.object({ file: z.string(), line: z.number().int().nonnegative(), sheet: z.string().optional() }),
});

/** Streams the examples of a normalised file; a line that is not an Example is an error naming the line. */
export async function* streamNormalizedJsonl(file: string): AsyncGenerator<Example> {
  const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (!text.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new AttuneError('data.imported-line-invalid', { line, file }, { file, line });
    }
    const parsed = ExampleSchema.safeParse(value);
    if (!parsed.success) {
      throw new AttuneError('data.imported-line-shape', { line, file, detail: parsed.error.issues[0]?.message ?? 'wrong shape' }, { file, line });
    }
    yield parsed.data as Example;
  }
}

export async function readNormalizedJsonl(file: string): Promise<Example[]> {
  const out: Example[] = [];
  for await (const e of streamNormalizedJsonl(file)) out.push(e);
  return out;
}
