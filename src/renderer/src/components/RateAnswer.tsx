/**
 * Thumbs up / thumbs down for one answer (Chat and the held-out review). Thumbs down opens the
 * answer for editing: the corrected answer is saved to the project as an instruction example and
 * as a preference pair, with the run that answered (main adds the adapter and the date).
 * In the correction, Enter saves (Shift+Enter starts a new line) and Escape cancels. Focus moves
 * to what an action produced: the editor when it opens, the saved note when it is saved.
 */
import { forwardRef, useEffect, useImperativeHandle, useRef, useState } from 'react';
import type { CorrectionsInfo, Example } from '../../../shared/contract.js';
import { attune, errorText } from '../api.js';

export interface RateAnswerHandle {
  up(): void;
  /** Thumbs down: opens the answer for correcting. */
  down(): void;
}

export interface RateAnswerProps {
  project: string;
  /** The run whose adapter answered (or whose chat the original model answered in). */
  runId?: string;
  which: 'tuned' | 'base';
  /** Whose answer, in words: "the tuned model", "the original model". */
  whose: string;
  prompt: Example['messages'];
  answer: string;
  /** A short id for the elements' ids (unique on the page). */
  idPrefix: string;
  onSaved: (info: CorrectionsInfo) => void;
}

export const RateAnswer = forwardRef<RateAnswerHandle, RateAnswerProps>(function RateAnswer(p, ref) {
  const [rating, setRating] = useState<'up' | 'down'>();
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState('');
  const [saved, setSaved] = useState<string>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const editor = useRef<HTMLTextAreaElement>(null);
  const note = useRef<HTMLParagraphElement>(null);
  const downButton = useRef<HTMLButtonElement>(null);
  /** Where focus goes once the next render is on screen (what the action produced). */
  const focusNext = useRef<'editor' | 'note' | 'down' | undefined>(undefined);
  useEffect(() => {
    const target = focusNext.current === 'editor' ? editor.current : focusNext.current === 'note' ? note.current : focusNext.current === 'down' ? downButton.current : null;
    if (target) {
      focusNext.current = undefined;
      target.focus();
    }
  });

  const rate = async (r: 'up' | 'down') => {
    setError(undefined);
    try {
      p.onSaved(await attune.corrections.rate({ project: p.project, runId: p.runId, which: p.which, prompt: p.prompt, answer: p.answer, rating: r }));
      setRating(r);
    } catch (e) {
      setError(errorText(e));
    }
  };
  const up = () => {
    setEditing(false);
    setSaved('Marked as a good answer.');
    focusNext.current = 'note';
    void rate('up');
  };
  const down = () => {
    void rate('down');
    setSaved(undefined);
    setText(p.answer);
    setEditing(true);
    focusNext.current = 'editor';
  };
  useImperativeHandle(ref, () => ({ up, down }));

  const save = async () => {
    setBusy(true);
    setError(undefined);
    try {
      p.onSaved(await attune.corrections.save({ project: p.project, runId: p.runId, which: p.which, prompt: p.prompt, answer: p.answer, corrected: text }));
      setEditing(false);
      setSaved('Correction saved. "Teach it again" will learn it.');
      focusNext.current = 'note';
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const cancel = () => {
    setEditing(false);
    setError(undefined);
    focusNext.current = 'down';
  };

  const id = p.idPrefix;
  return (
    <div className="rate" data-testid={`${id}-rate`}>
      <div className="row" role="group" aria-label={`Rate ${p.whose}'s answer`}>
        <button type="button" className="thumb" aria-pressed={rating === 'up'} aria-label={`Thumbs up: ${p.whose}'s answer is good`} title="Good answer" onClick={up}>
          <span aria-hidden="true">👍</span> Thumbs up
        </button>
        <button
          type="button"
          id={`${id}-down`}
          ref={downButton}
          className="thumb"
          aria-pressed={rating === 'down'}
          aria-label={`Thumbs down: correct ${p.whose}'s answer`}
          title="Wrong answer: correct it"
          onClick={down}
        >
          <span aria-hidden="true">👎</span> Thumbs down
        </button>
      </div>
      {editing && (
        <form
          className="correct"
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <label htmlFor={`${id}-correct`}>The answer {p.whose} should have given</label>
          <textarea
            id={`${id}-correct`}
            ref={editor}
            rows={4}
            value={text}
            aria-describedby={`${id}-keys`}
            onChange={(e) => setText(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) {
                e.preventDefault();
                void save();
              } else if (e.key === 'Escape') {
                e.preventDefault();
                cancel();
              }
            }}
          />
          <small id={`${id}-keys`}>Enter saves, Shift+Enter starts a new line, Escape cancels.</small>
          <div className="row">
            <button type="submit" className="primary" disabled={busy}>
              Save the correction
            </button>
            <button type="button" onClick={cancel}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {saved && !editing && (
        <p className="ok" role="status" tabIndex={-1} ref={note} data-testid={`${id}-saved`}>
          {saved}
        </p>
      )}
    </div>
  );
});
