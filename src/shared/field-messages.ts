/**
 * One place that turns a schema's refusal into plain words for a person: the renderer checks each
 * field as it is typed with it, and the main process words its refusals with it, so both say the
 * same thing ("Batch size: use a whole number from 1 to 512."). Works from any zod schema, so it
 * keeps working when the settings move to one tune-settings schema.
 */
import { z } from 'zod';

/** The names people see for request fields, by the field's key (the last part of its path). */
export const FIELD_LABELS: Record<string, string> = {
  name: 'Project name',
  rank: 'Rank',
  learningRate: 'Learning rate',
  epochs: 'Epochs',
  batchSize: 'Batch size',
  maxLength: 'Max length (tokens)',
  seed: 'Seed',
  evalEvery: 'Check every (steps)',
  patience: 'Patience (checks)',
  maxTokens: 'Longest answer (tokens)',
  temperature: 'Creativity (temperature)',
  topP: 'Top P',
  topK: 'Top K',
  valFraction: 'Held-out share',
};

type Bound = { value: number; inclusive: boolean };

/** The bounds and kind of a number schema (after unwrapping optional/nullable/default). */
function numberRule(schema: z.ZodType): { int: boolean; min?: Bound; max?: Bound } | undefined {
  const s = unwrap(schema);
  if (!(s instanceof z.ZodNumber)) return undefined;
  const rule: { int: boolean; min?: Bound; max?: Bound } = { int: !!s.isInt };
  for (const c of s.def.checks ?? []) {
    const d = (c as unknown as { _zod: { def: { check: string; value?: number; inclusive?: boolean } } })._zod.def;
    if (d.check === 'greater_than' && typeof d.value === 'number') rule.min = { value: d.value, inclusive: !!d.inclusive };
    if (d.check === 'less_than' && typeof d.value === 'number') rule.max = { value: d.value, inclusive: !!d.inclusive };
  }
  return rule;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (let i = 0; i < 8; i++) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault) s = s.unwrap() as z.ZodType;
    // A preprocessed schema (older setting names read as today's) checks with its output side.
    else if (s instanceof z.ZodPipe) s = (s.def.out instanceof z.ZodTransform ? s.def.in : s.def.out) as z.ZodType;
    else break;
  }
  return s;
}

const num = (x: number) => (Math.abs(x) >= 10_000 && Number.isInteger(x) ? x.toLocaleString('en-US') : String(x));

/** "a whole number from 1 to 256", "a number above 0 and at most 1". */
export function describeNumber(schema: z.ZodType): string | undefined {
  const r = numberRule(schema);
  if (!r) return undefined;
  const kind = r.int ? 'a whole number' : 'a number';
  const { min, max } = r;
  if (min && max && min.inclusive && max.inclusive) return `${kind} from ${num(min.value)} to ${num(max.value)}`;
  const parts: string[] = [];
  if (min) parts.push(min.inclusive ? `of at least ${num(min.value)}` : `above ${num(min.value)}`);
  if (max) parts.push(max.inclusive ? `at most ${num(max.value)}` : `below ${num(max.value)}`);
  return `${kind} ${parts.join(' and ')}`.trim();
}

const sentence = (s: string) => {
  const t = s.trim().replace(/[.\s]+$/, '');
  return t ? `${t[0]!.toUpperCase()}${t.slice(1)}.` : '';
};

/**
 * What is wrong with a value, in words; undefined when the schema accepts it. An empty number
 * field arrives as NaN (or undefined) and asks for a number.
 */
export function fieldProblem(schema: z.ZodType, value: unknown): string | undefined {
  const r = schema.safeParse(value);
  if (r.success) return undefined;
  return issueText(schema, r.error.issues[0]);
}

/** One issue of a schema, in words (without the field's name). */
export function issueText(schema: z.ZodType | undefined, issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return 'This value is not accepted.';
  const number = schema ? describeNumber(schema) : undefined;
  if (number) return sentence(`Use ${number}`);
  // Strings and the like carry their own plain message in the schema (e.g. the project name's).
  if (issue.code === 'custom' || !/^(Invalid|Too (small|big)|Unrecognized)/.test(issue.message)) return sentence(issue.message);
  if (issue.code === 'too_small' && issue.origin === 'string') return issue.minimum === 1 ? 'Fill this in.' : `Use at least ${issue.minimum} characters.`;
  if (issue.code === 'too_big' && issue.origin === 'string') return `Use at most ${issue.maximum} characters.`;
  if (issue.code === 'invalid_value') return `Choose one of: ${issue.values.map(String).join(', ')}.`;
  return 'This value is not accepted.';
}

/** The schema at a path inside objects and arrays (through optional, partial and nullable). */
export function schemaAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let s: z.ZodType | undefined = schema;
  for (const key of path) {
    s = s && unwrap(s);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(key)];
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else return undefined;
  }
  return s && unwrap(s);
}

/** The first refusal of a request schema as a sentence that names the field: "Batch size: use a whole number from 1 to 512." */
export function requestProblemText(schema: z.ZodType, error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'The request was not accepted.';
  const key = [...issue.path].reverse().find((k) => typeof k === 'string');
  const label = key ? (FIELD_LABELS[key] ?? key) : undefined;
  const text = issueText(issue.code === 'unrecognized_keys' ? undefined : schemaAt(schema, issue.path), issue);
  return label ? `${label}: ${text[0]!.toLowerCase()}${text.slice(1)}` : text;
}
