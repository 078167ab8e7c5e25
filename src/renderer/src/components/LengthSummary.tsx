/**
 * The examples counted with the chosen model's tokenizer, in the Data step: the same engine check
 * (tune.check) and so the same numbers as the Tune step's warning, each long example a button
 * that shows it in the list below.
 */
import { useEffect, useState } from 'react';
import type { LengthCheck } from '../../../shared/contract.js';
import type { ExamplePlace } from '../../../shared/engine-results.js';
import { attune, errorText } from '../api.js';
import { plural } from '../format.js';
import { placeText } from '../examples-ref.js';

export function lengthSummaryText(c: LengthCheck): string {
  const head = `Counted with the chosen model's tokenizer: the longest example has ${plural(c.longest, 'token')}.`;
  if (c.tooLong === 0) return `${head} All ${c.examples} fit in the max length of ${c.maxLength} tokens.`;
  return `${head} ${c.tooLong} of ${c.examples} ${c.tooLong === 1 ? 'is' : 'are'} longer than the max length of ${c.maxLength} tokens, so tuning would leave ${c.tooLong === 1 ? 'it' : 'them'} out. Shorten or split ${c.tooLong === 1 ? 'it' : 'them'} to keep ${c.tooLong === 1 ? 'it' : 'them'}.`;
}

/** The long examples a check names, each a button that shows it in the Data step's list. */
export function LongExamples({ check, onShow }: { check: LengthCheck; onShow: (w: ExamplePlace) => void }) {
  const placed = check.samples.filter((x) => x.where);
  if (placed.length === 0) return null;
  return (
    <ul className="plain" data-testid="long-examples">
      {placed.map((x) => (
        <li key={x.line}>
          <button type="button" className="link" onClick={() => onShow(x.where!)}>
            Show {placeText(x.where!)}
          </button>
        </li>
      ))}
      {check.tooLong > placed.length && <li className="muted">…and {plural(check.tooLong - placed.length, 'more')}.</li>}
    </ul>
  );
}

export function LengthSummary(p: { project: string; modelPath: string; maxLength: number; version: string; onShow: (w: ExamplePlace) => void }) {
  const [check, setCheck] = useState<LengthCheck>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let gone = false;
    setError(undefined);
    attune.tune
      .check({ project: p.project, modelPath: p.modelPath, maxLength: p.maxLength })
      .then((c) => !gone && setCheck(c))
      .catch((e) => !gone && setError(errorText(e)));
    return () => {
      gone = true;
    };
  }, [p.project, p.modelPath, p.maxLength, p.version]);
  if (error) return <p className="muted">{error}</p>;
  if (!check) return <p className="muted">Counting the tokens with the chosen model's tokenizer…</p>;
  return (
    <div className={check.tooLong > 0 ? 'card warning-box' : undefined} data-testid="length-summary">
      <p>{lengthSummaryText(check)}</p>
      <LongExamples check={check} onShow={p.onShow} />
    </div>
  );
}
