/**
 * A number field that keeps what the person typed (an emptied field stays empty, not "0"; typing
 * after it gives "2", not "02") and says next to the field, as they type, what it accepts. The
 * words come from the same schema the main process checks (shared/field-messages.ts).
 */
import { useEffect, useState } from 'react';
import type { ZodType } from 'zod';
import { fieldProblem } from '../../../shared/field-messages.js';

/** The number a field's text stands for; NaN when it is empty or not a number. */
export function parseNumber(text: string): number {
  const t = text.trim().replace(',', '.');
  return t === '' ? Number.NaN : Number(t);
}

export function NumberField(p: {
  id: string;
  label: string;
  help: React.ReactNode;
  value: number;
  step: number;
  schema: ZodType;
  disabled?: boolean;
  onChange: (v: number) => void;
}) {
  const [text, setText] = useState(() => (Number.isNaN(p.value) ? '' : String(p.value)));
  // A value set from outside (a preset, a suggestion) replaces the text; the person's own typing does not.
  useEffect(() => {
    if (!Number.isNaN(p.value) && parseNumber(text) !== p.value) setText(String(p.value));
  }, [p.value]);
  const problem = p.disabled ? undefined : fieldProblem(p.schema, p.value);
  return (
    <div className="field">
      <label htmlFor={p.id}>{p.label}</label>
      <input
        id={p.id}
        type="text"
        inputMode="decimal"
        value={text}
        disabled={p.disabled}
        aria-invalid={problem ? true : undefined}
        aria-describedby={`${p.id}-help${problem ? ` ${p.id}-problem` : ''}`}
        onChange={(e) => {
          setText(e.target.value);
          p.onChange(parseNumber(e.target.value));
        }}
        onKeyDown={(e) => {
          // Up and down step the value, as in a spin button.
          if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
          const v = parseNumber(text);
          if (Number.isNaN(v)) return;
          e.preventDefault();
          const next = Number((v + (e.key === 'ArrowUp' ? p.step : -p.step)).toPrecision(12));
          setText(String(next));
          p.onChange(next);
        }}
      />
      {problem && (
        <span id={`${p.id}-problem`} className="field-problem error" data-testid={`${p.id}-problem`}>
          {problem}
        </span>
      )}
      <small id={`${p.id}-help`}>{p.help}</small>
    </div>
  );
}

/** The first problem among fields, for disabling a form's main button. */
export function firstProblem(fields: { schema: ZodType; value: number }[]): string | undefined {
  for (const f of fields) {
    const problem = fieldProblem(f.schema, f.value);
    if (problem) return problem;
  }
  return undefined;
}
