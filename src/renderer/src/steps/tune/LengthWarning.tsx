/** Before a run: some examples are longer than the max length; raise it, start anyway, or go back. */
import { useEffect, useRef } from 'react';
import type { LengthCheck } from '../../../../shared/contract.js';
import type { ExamplePlace } from '../../../../shared/engine-results.js';
import { LongExamples } from '../../components/LengthSummary.js';
import { lengthWarningText } from '../../explain.js';

export function LengthWarning(p: {
  check: LengthCheck;
  onRaise: (maxLength: number) => void;
  onStartAnyway: () => void;
  onBack: () => void;
  onShow: (where: ExamplePlace) => void;
}) {
  const { check } = p;
  const first = useRef<HTMLButtonElement>(null);
  // The choice takes focus, so a keyboard or screen-reader user lands on it.
  useEffect(() => first.current?.focus(), []);
  return (
    <div className="card warning-box" role="alert" data-testid="length-warning">
      <p>{lengthWarningText(check)}</p>
      {/* Each example it names opens in the Data step's list, by the number and file row shown there. */}
      <LongExamples check={check} onShow={p.onShow} />
      <div className="row">
        {check.suggestedMaxLength !== undefined && (
          <button ref={first} type="button" className="primary" onClick={() => p.onRaise(check.suggestedMaxLength!)}>
            Raise the max length to {check.suggestedMaxLength} and start
          </button>
        )}
        <button ref={check.suggestedMaxLength === undefined ? first : undefined} type="button" onClick={p.onStartAnyway}>
          Start anyway, leaving {check.tooLong === 1 ? 'it' : 'them'} out
        </button>
        <button type="button" onClick={p.onBack}>
          Back to the settings
        </button>
      </div>
    </div>
  );
}
