/**
 * "Teach it again" (issue #16): continues the chosen run's adapter on the project's corrections,
 * with some original examples replayed, as a run like any other (progress, cancel: the Tune
 * step's RunPanel); when it finishes, the before/after on every corrected question and on the
 * held-out examples, side by side, with how many corrections the model now gets right.
 */
import { useEffect, useRef, useState } from 'react';
import type { CorrectionsInfo, RunSummary, TeachAgainReport } from '../../../../shared/contract.js';
import { attune, errorText } from '../../api.js';
import { TaskStatus } from '../../components/TaskStatus.js';
import { plural } from '../../format.js';
import { LIVE_STATES, RunPanel } from '../tune/RunPanel.js';

export function TeachAgain(p: {
  project: string;
  /** The chosen (finished) run: the one continued, or a teach-again run to show. */
  run?: RunSummary;
  corrections: CorrectionsInfo;
  /** Chat with the new version. */
  onUse: (runId: string) => void;
}) {
  const { project } = p;
  const [run, setRun] = useState<RunSummary>();
  const [report, setReport] = useState<TeachAgainReport>();
  const [progress, setProgress] = useState<{ done: number; total: number }>();
  const [comparing, setComparing] = useState(false);
  const [error, setError] = useState<string>();
  const headline = useRef<HTMLHeadingElement>(null);
  /** Set when a comparison arrives: focus goes to its headline once it is drawn. */
  const focusHeadline = useRef(false);
  useEffect(() => {
    if (report && focusHeadline.current && headline.current) {
      focusHeadline.current = false;
      headline.current.focus();
    }
  }, [report]);
  const count = p.corrections.corrections.length;

  // A teach-again run chosen in the chat shows its own before/after.
  useEffect(() => {
    setReport(undefined);
    setRun(p.run?.continues ? p.run : undefined);
  }, [p.run?.runId]);

  useEffect(
    () =>
      attune.tune.onState((s) => {
        if (s.project === project && s.runId === run?.runId) setRun(s);
      }),
    [project, run?.runId],
  );
  useEffect(
    () =>
      attune.corrections.onProgress((x) => {
        if (x.project === project && x.runId === run?.runId) setProgress({ done: x.done, total: x.total });
      }),
    [project, run?.runId],
  );

  const compare = async (runId: string) => {
    setComparing(true);
    setError(undefined);
    setProgress(undefined);
    try {
      setReport(await attune.corrections.compare({ project, runId }));
      focusHeadline.current = true;
    } catch (e) {
      setError(errorText(e));
    } finally {
      setComparing(false);
    }
  };
  // When the run finishes, the comparison follows on its own.
  useEffect(() => {
    if (run?.state === 'done' && run.continues && !report && !comparing) void compare(run.runId);
  }, [run?.state, run?.runId]);

  const start = async () => {
    if (!p.run) return;
    setError(undefined);
    setReport(undefined);
    try {
      setRun(await attune.corrections.teachAgain({ project, runId: p.run.runId }));
      requestAnimationFrame(() => requestAnimationFrame(() => document.getElementById('run-h')?.focus()));
    } catch (e) {
      setError(errorText(e));
    }
  };
  const act = async (f: () => Promise<RunSummary>) => {
    setError(undefined);
    try {
      setRun(await f());
    } catch (e) {
      setError(errorText(e));
    }
  };

  const live = run && LIVE_STATES.includes(run.state);
  const canStart = !!p.run && p.run.state === 'done' && count > 0 && !live;
  const corrections = report?.rows.filter((r) => r.kind === 'correction') ?? [];
  const heldOut = report?.rows.filter((r) => r.kind === 'held-out') ?? [];

  return (
    <section className="card" aria-labelledby="teach-h">
      <h2 id="teach-h">Teach it again</h2>
      <p className="muted">
        The model learns your corrections, continuing from the version you are chatting with; some of your original examples are repeated so that it does
        not forget them. Afterwards you see the answers before and after, side by side.
      </p>
      <div className="row">
        <button type="button" className="primary" disabled={!canStart} onClick={() => void start()} aria-describedby="teach-why">
          Teach it again
        </button>
        <span id="teach-why" className="muted">
          {count === 0
            ? 'Give a wrong answer a thumbs down and correct it first.'
            : !p.run || p.run.state !== 'done'
              ? 'Finish a training run first.'
              : `Learns ${plural(count, 'correction')}.`}
        </span>
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {run && <RunPanel key={run.runId} project={project} run={run} act={act} onTokens={() => undefined} onDiscarded={() => setRun(undefined)} />}
      <TaskStatus
        id="compare-progress"
        busy={comparing}
        label={progress ? `Answering before and after: ${progress.done} of ${progress.total}` : 'Loading the model…'}
        value={progress?.done ?? 0}
        max={progress?.total ?? 1}
      />
      {report && (
        <div data-testid="before-after">
          <h3 id="before-after-h" ref={headline} tabIndex={-1} data-testid="teach-headline">
            The model now gets {report.corrections.rightAfter} of {report.corrections.total} corrections right
          </h3>
          <p className="muted">
            Before it got {report.corrections.rightBefore} of {report.corrections.total}. &ldquo;Right&rdquo; means its answer is your correction, word for word
            or nearly. On your {plural(report.heldOut.total, 'held-out example')}, it matches your answer on {report.heldOut.rightAfter} now, {report.heldOut.rightBefore}{' '}
            before.
          </p>
          <table className="before-after">
            <caption>Your corrections</caption>
            <thead>
              <tr>
                <th scope="col">Question</th>
                <th scope="col">The answer you rejected</th>
                <th scope="col">Your correction</th>
                <th scope="col">The new answer</th>
              </tr>
            </thead>
            <tbody>
              {corrections.map((r, i) => (
                <tr key={i} data-testid="correction-row">
                  <th scope="row">{r.prompt}</th>
                  <td>{r.rejected}</td>
                  <td>{r.expected}</td>
                  <td className={r.rightAfter ? 'ok' : ''}>
                    {r.after || <em className="muted">(no answer)</em>} <strong>{r.rightAfter ? '✓ right' : '✗ not yet'}</strong>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {heldOut.length > 0 && (
            <table className="before-after">
              <caption>Your held-out examples (never learned from)</caption>
              <thead>
                <tr>
                  <th scope="col">Question</th>
                  <th scope="col">Your answer</th>
                  <th scope="col">Before</th>
                  <th scope="col">After</th>
                </tr>
              </thead>
              <tbody>
                {heldOut.map((r, i) => (
                  <tr key={i} data-testid="held-out-row">
                    <th scope="row">{r.prompt}</th>
                    <td>{r.expected}</td>
                    <td>{r.before || <em className="muted">(no answer)</em>}</td>
                    <td>{r.after || <em className="muted">(no answer)</em>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {p.run?.runId !== report.runId && (
            <button type="button" onClick={() => p.onUse(report.runId)}>
              Chat with the new version
            </button>
          )}
        </div>
      )}
    </section>
  );
}
