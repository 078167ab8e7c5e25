/**
 * The one catalogue of user-facing diagnostics (STYLE habit 15, after TypeScript's
 * diagnosticMessages.json). Every problem the engine reports to a person cites a stable `code`
 * from this table; the CLI and the UI render the same entry with `formatDiagnostic`.
 *
 * Templates are plain language for someone who has never programmed. Placeholders are written
 * `{name}` and filled from the problem's params; `{where}` is the location ("Row 12 (sheet
 * 'Answers')", "Line 5") and `{field}` the place inside it ("the Response column", "the "output"
 * field"), both worded by the engine that found the problem.
 *
 * This file is in `shared`: no Node, DOM or Electron imports.
 */

export type Severity = 'fatal' | 'error' | 'warning' | 'info';

export interface DiagnosticEntry {
  /** Stable identifier, `<area>.<name>`; never reuse a code for a different meaning. */
  readonly code: string;
  /**
   * fatal: the whole file (or command) cannot go on; error: this example is left out because
   * something in it is wrong; warning: left out or kept, but worth a look; info: for the record.
   */
  readonly severity: Severity;
  readonly template: string;
}

function entries<const T extends Record<string, { severity: Severity; template: string }>>(
  table: T,
): { readonly [K in keyof T]: DiagnosticEntry & { code: K } } {
  const out: Record<string, DiagnosticEntry> = {};
  for (const [code, e] of Object.entries(table)) out[code] = { code, ...e };
  return out as { readonly [K in keyof T]: DiagnosticEntry & { code: K } };
}

export const DIAGNOSTICS = entries({
  // ── data: the file as a whole ───────────────────────────────────────────────────────────
  'data.file-unreadable': { severity: 'fatal', template: 'Could not open {file}: {detail}.' },
  'data.file-empty': { severity: 'fatal', template: '{file} is empty, so there are no examples to import.' },
  'data.format-unknown': {
    severity: 'fatal',
    template:
      'Could not tell what kind of file {file} is. Attune reads JSON or JSONL (Alpaca, Dolly, ShareGPT, OpenAI chat), CSV/TSV, Excel (.xlsx) and plain text with Q:/A: pairs. If it is one of these, choose the format by hand (--format).',
  },
  'data.format-mismatch': { severity: 'fatal', template: '{file} does not look like a {format} file: {detail}.' },
  'data.format-detected': { severity: 'info', template: '{file} was read as {formatName}{detail}.' },
  'data.encoding-fallback': {
    severity: 'info',
    template: '{file} is not saved as UTF-8, so it was read as {encoding}. If accented letters look wrong, save the file as UTF-8 and import it again.',
  },
  'data.missing-column': {
    severity: 'fatal',
    template: 'There is no column called "{column}" in {file}. The columns are: {columns}.',
  },
  'data.columns-unrecognised': {
    severity: 'fatal',
    template:
      'Could not tell which column of {file} holds the questions and which holds the answers (the columns are: {columns}). Say which is which, for example --map instruction="{first}",response="{second}".',
  },
  'data.columns-guessed': {
    severity: 'info',
    template: 'The column names of {file} were not recognised, so "{instruction}" was taken as the question and "{response}" as the answer.',
  },
  'data.sheet-not-found': { severity: 'fatal', template: 'There is no sheet called "{sheet}" in {file}. The sheets are: {sheets}.' },
  'data.map-invalid': {
    severity: 'fatal',
    template: 'The column mapping "{detail}" is not understood. Write it like instruction=Question,response=Answer (optional: context=..., system=...).',
  },
  'data.no-examples': { severity: 'fatal', template: 'Nothing could be imported from {file}: {detail}' },
  'data.output-exists': {
    severity: 'fatal',
    template: '{file} already exists. Choose another name, or allow replacing it (--force).',
  },
  'data.output-is-input': { severity: 'fatal', template: 'The output file must not be the file being imported ({file}): the original is never changed.' },
  'data.problems-truncated': {
    severity: 'info',
    template: '{count} more problems of this kind ({codeName}) are counted but not listed one by one.',
  },

  // ── data: one row / line / record ───────────────────────────────────────────────────────
  'data.invalid-json': {
    severity: 'error',
    template: '{where}: this is not valid JSON ({detail}), so the example could not be read.',
  },
  'data.json-structure': { severity: 'warning', template: '{where}: {detail}.' },
  'data.not-an-object': {
    severity: 'error',
    template: '{where}: expected one example written as {"…": …} but found {found}.',
  },
  'data.missing-field': {
    severity: 'error',
    template: '{where}: {field} is missing, and every example needs one.',
  },
  'data.wrong-type': { severity: 'error', template: '{where}: {field} should be {expected} but is {found}.' },
  'data.mixed-formats': {
    severity: 'error',
    template: '{where}: this example is written as {other}, but the rest of the file is {format}; write it like the others.',
  },
  'data.empty-instruction': {
    severity: 'error',
    template: '{where}: {field} is empty, so the model would not know what question this answer belongs to.',
  },
  'data.empty-response': {
    severity: 'error',
    template: '{where}: {field} is empty, so there is nothing for the model to learn from this example.',
  },
  'data.empty-message': { severity: 'error', template: '{where}: {field} is empty; every message in a conversation needs some text.' },
  'data.no-messages': { severity: 'error', template: '{where}: the conversation has no messages.' },
  'data.unknown-role': {
    severity: 'error',
    template: '{where}: {field} has the role "{role}", which Attune does not know. Use {roles}.',
  },
  'data.system-not-first': {
    severity: 'error',
    template: '{where}: {field} is a system message, but a system message can only come first in a conversation.',
  },
  'data.first-not-user': {
    severity: 'error',
    template: '{where}: the conversation starts with the assistant; it should start with a question from the user.',
  },
  'data.roles-not-alternating': {
    severity: 'error',
    template: '{where}: {field} is a second {role} message in a row; user and assistant messages must take turns.',
  },
  'data.not-ending-with-assistant': {
    severity: 'error',
    template: '{where}: the conversation ends with a {role} message, so there is no answer for the model to learn. End it with the assistant\'s reply.',
  },
  'data.duplicate': {
    severity: 'warning',
    template: '{where}: this example is exactly the same as {first}; the copy is left out.',
  },
  'data.near-duplicate': {
    severity: 'warning',
    template: '{where}: this example is almost the same as {first} ({similarity}% alike); it is left out so that the model does not learn it twice.',
  },
  'data.too-long': {
    severity: 'error',
    template:
      '{where}: this example is {tokens} tokens long, more than the {maxLength} tokens the model can read at once. Shorten it or split it into several examples.',
  },
  'data.maybe-too-long': {
    severity: 'warning',
    template:
      '{where}: this example is about {tokens} tokens long (estimated without a model), more than {maxLength}; it is kept, but check it again once a model is chosen.',
  },
  'data.mojibake': {
    severity: 'error',
    template:
      '{where}: {field} contains garbled characters ("{sample}"), which happens when a file saved in one text encoding is read in another. Fix the text (or save the file as UTF-8) and import again.',
  },
  'data.encoding-invalid': {
    severity: 'error',
    template: '{where}: {field} contains characters that could not be read (shown as "\uFFFD"). Save the file as UTF-8 and import again.',
  },
  'data.csv-malformed': {
    severity: 'error',
    template: '{where}: this row could not be read ({detail}). Check its quotation marks.',
  },
  'data.extra-columns': { severity: 'info', template: '{where}: this row has more cells than the header has columns; the extra cells are ignored.' },
  'data.qa-unpaired': { severity: 'error', template: '{where}: {detail}' },
  'data.line-too-long': {
    severity: 'error',
    template: '{where}: this line is longer than {limit} characters, so it was not read. One example per line is expected.',
  },
  'data.preference-identical': {
    severity: 'error',
    template: '{where}: the chosen and the rejected answers are the same, so there is no preference to learn. Write the better answer as "chosen".',
  },
  'data.preference-no-prompt': {
    severity: 'error',
    template: '{where}: {field} gives no question to answer. Add a "prompt" field, or write the whole conversation ("Human: … Assistant: …", or a list of messages) in both "chosen" and "rejected".',
  },
  'data.preference-diverge': {
    severity: 'error',
    template: '{where}: the chosen and rejected conversations should be the same up to the last answer, but they differ at turn {turn}.',
  },
  'data.preference-not-answer': {
    severity: 'error',
    template: '{where}: {field} should be the assistant\'s answer, but {detail}.',
  },
  // ── corrections (rate and fix answers) ─────────────────────────────────────────────────
  'corrections.no-question': { severity: 'error', template: 'There is no question to attach this answer to: the conversation should end with your question.' },
  'corrections.empty': { severity: 'error', template: 'The corrected answer is empty. Write the answer the model should have given.' },
  'corrections.unchanged': { severity: 'error', template: 'The corrected answer is the same as the model\'s answer. Change it to the answer you want, or give it a thumbs up instead.' },
  'corrections.none': { severity: 'error', template: 'There are no corrections yet. Give a wrong answer a thumbs down and write the right one first.' },
  // ── tune ─────────────────────────────────────────────────────────────────────────────────
  'tune.no-pairs': {
    severity: 'fatal',
    template:
      'Preference tuning (DPO or ORPO) needs pairs of a better and a worse answer, but line {line} of {file} has only one answer. Use a file with "chosen" and "rejected" answers, or tune with --method sft.',
  },
  'data.template-error': {
    severity: 'error',
    template: '{where}: the model\'s chat template could not format this conversation ({detail}).',
  },
  'data.template-unstable': {
    severity: 'error',
    template:
      '{where}: the model\'s chat template writes earlier messages differently once later ones are added, so Attune cannot tell which words are the answer ({detail}). Choose another chat template (--template).',
  },
} as const);

export type DiagnosticCode = keyof typeof DIAGNOSTICS;

/** Fills `{name}` placeholders; unknown names are left visible rather than silently dropped. */
export function fillTemplate(template: string, params: Record<string, string | number | undefined>): string {
  return template.replace(/\{(\w+)\}/g, (m, name: string) => {
    const v = params[name];
    return v === undefined ? m : String(v);
  });
}

export function formatDiagnostic(code: DiagnosticCode, params: Record<string, string | number | undefined>): string {
  return fillTemplate(DIAGNOSTICS[code].template, params);
}

export function diagnostic(code: DiagnosticCode): DiagnosticEntry {
  return DIAGNOSTICS[code];
}
