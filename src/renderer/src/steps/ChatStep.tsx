/** Step 4: the tuned model and the original side by side on the same prompt, streaming. */
import { useEffect, useRef, useState } from 'react';
import { sampling as samplingSchema, type CorrectionsInfo, type Example, type ReviewReport, type ReviewSample, type RunSummary, type Sampling } from '../../../shared/contract.js';
import { RateAnswer, type RateAnswerHandle } from '../components/RateAnswer.js';
import { TeachAgain } from './chat/TeachAgain.js';
import { plural } from '../format.js';
import { firstProblem, NumberField } from '../components/NumberField.js';
import { runLabel } from '../runs.js';
import { TaskStatus } from '../components/TaskStatus.js';
import { attune, errorText } from '../api.js';
import { reviewSummaryText } from '../explain.js';
import type { StepProps } from './types.js';

const DEFAULT_SAMPLING: Sampling = { maxTokens: 200, temperature: 0.7, topP: 0.9, topK: 40, seed: 42 };
type Which = 'tuned' | 'base';
let streamCounter = 0;

export function ChatStep({ state, update, next }: StepProps) {
  const project = state.project.name;
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [session, setSession] = useState<{ sessionId: string; hasAdapter: boolean }>();
  const [prompt, setPrompt] = useState('');
  const [reference, setReference] = useState<string>();
  const [answers, setAnswers] = useState<Record<Which, string>>({ tuned: '', base: '' });
  const [busy, setBusy] = useState<Which>();
  const [sampling, setSampling] = useState<Sampling>(DEFAULT_SAMPLING);
  const [heldOut, setHeldOut] = useState<Example[]>([]);
  const [error, setError] = useState<string>();
  const [opening, setOpening] = useState(false);
  const streams = useRef(new Map<string, Which>());
  /** Set by Stop: the answers still to come are not started. */
  const stopped = useRef(false);
  const answersRef = useRef<HTMLDivElement>(null);
  /** The question the answers shown belong to (the field may have changed since). */
  const [asked, setAsked] = useState<Example['messages']>();
  const [corrections, setCorrections] = useState<CorrectionsInfo>({ corrections: [], ratings: { up: 0, down: 0 } });
  const loadRuns = () => attune.tune.runs({ project }).then((rs) => setRuns(rs.filter((r) => r.state === 'done')));

  useEffect(() => {
    void loadRuns();
    void attune.corrections
      .list({ project })
      .then(setCorrections)
      .catch(() => undefined);
    const off = attune.chat.onToken(({ streamId, delta }) => {
      const which = streams.current.get(streamId);
      if (which) setAnswers((a) => ({ ...a, [which]: a[which] + delta }));
    });
    return off;
  }, [project]);

  const samplingProblem = firstProblem(SAMPLING_FIELDS.map((f) => ({ schema: samplingSchema.shape[f.key], value: sampling[f.key] })));
  const runId = state.runId && runs.some((r) => r.runId === state.runId) ? state.runId : runs[0]?.runId;
  const run = runs.find((r) => r.runId === runId);
  // The held-out examples of the run that answers, from the data it was tuned on (not the project's current file).
  useEffect(() => {
    setHeldOut([]);
    if (!runId) return;
    void attune.tune
      .heldOut({ project, runId, limit: 10 })
      .then(setHeldOut)
      .catch(() => undefined);
  }, [project, runId]);

  useEffect(() => {
    if (!state.modelPath) return;
    let closed = false;
    let opened: string | undefined;
    setOpening(true);
    setSession(undefined);
    attune.chat
      .open({ project, modelPath: state.modelPath, runId })
      .then((s) => {
        opened = s.sessionId;
        if (closed) void attune.chat.close({ sessionId: s.sessionId });
        else setSession(s);
      })
      .catch((e) => setError(errorText(e)))
      .finally(() => setOpening(false));
    return () => {
      closed = true;
      if (opened) void attune.chat.close({ sessionId: opened });
    };
  }, [project, state.modelPath, runId]);

  const ask = async () => {
    if (!session || !prompt.trim()) return;
    setError(undefined);
    setAnswers({ tuned: '', base: '' });
    setAsked([{ role: 'user', content: prompt }]);
    stopped.current = false;
    // Focus goes to the answers, which the button that was pressed now waits for.
    requestAnimationFrame(() => answersRef.current?.focus());
    const order: Which[] = session.hasAdapter ? ['tuned', 'base'] : ['base'];
    for (const which of order) {
      if (stopped.current) break;
      const streamId = `s${Date.now()}-${++streamCounter}`;
      streams.current.set(streamId, which);
      setBusy(which);
      try {
        const r = await attune.chat.generate({ sessionId: session.sessionId, streamId, which, messages: [{ role: 'user', content: prompt }], sampling });
        setAnswers((a) => ({ ...a, [which]: r.text }));
      } catch (e) {
        setError(errorText(e));
        break;
      } finally {
        streams.current.delete(streamId);
      }
    }
    setBusy(undefined);
  };

  const stop = () => {
    stopped.current = true;
    requestAnimationFrame(() => answersRef.current?.focus());
    for (const id of streams.current.keys()) void attune.chat.stop({ streamId: id });
  };

  const useExample = (ex: Example) => {
    const user = [...ex.messages].reverse().find((m) => m.role === 'user');
    const answer = [...ex.messages].reverse().find((m) => m.role === 'assistant');
    setPrompt(user?.content ?? '');
    setReference(answer?.content);
  };

  return (
    <div className="step">
      <p className="lead">Ask a question and compare: on the left your tuned model, on the right the original. Both get exactly the same question.</p>
      {runs.length > 1 && (
        <label>
          Tuned model from run{' '}
          <select value={runId} onChange={(e) => update({ runId: e.target.value })}>
            {runs.map((r) => (
              <option key={r.runId} value={r.runId}>
                {runLabel(r)}
              </option>
            ))}
          </select>
        </label>
      )}
      {run && (
        <p className="muted" data-testid="chat-run">
          The tuned model is from the {runLabel(run)}.
        </p>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {opening && <p aria-live="polite">Loading the model…</p>}
      {session && !session.hasAdapter && <p className="muted">No finished training run yet: only the original model can answer.</p>}

      {heldOut.length > 0 && (
        <details className="card">
          <summary>Try one of your held-out examples{run?.data ? ` (from “${run.data.source}”, which this run was tuned on)` : ''}</summary>
          <ul className="plain">
            {heldOut.map((ex, i) => (
              <li key={i}>
                <button type="button" className="link" onClick={() => useExample(ex)}>
                  {(ex.messages.find((m) => m.role === 'user')?.content ?? '').slice(0, 120)}
                </button>
              </li>
            ))}
          </ul>
        </details>
      )}

      <form
        className="card"
        onSubmit={(e) => {
          e.preventDefault();
          void ask();
        }}
      >
        <label htmlFor="prompt">Your question</label>
        <textarea id="prompt" rows={3} value={prompt} onChange={(e) => (setPrompt(e.target.value), setReference(undefined))} />
        <details>
          <summary>Answer settings</summary>
          <div className="grid">
            {SAMPLING_FIELDS.map((f) => (
              <NumberField key={f.key} id={f.id} label={f.label} help={f.help} value={sampling[f.key]} step={f.step} schema={samplingSchema.shape[f.key]} onChange={(v) => setSampling((s) => ({ ...s, [f.key]: v }))} />
            ))}
          </div>
        </details>
        <div className="row">
          <button type="submit" className="primary" disabled={!session || !!busy || !prompt.trim() || !!samplingProblem}>
            Ask both
          </button>
          {samplingProblem && <span className="error">Fix the answer settings marked in red first.</span>}
          {busy && (
            <button type="button" onClick={stop}>
              Stop
            </button>
          )}
        </div>
      </form>

      <div className="answers" id="answers" ref={answersRef} tabIndex={-1} aria-label="Answers" data-testid="answers">
        {reference !== undefined && (
          <section className="card answer" aria-labelledby="ans-ref">
            <h2 id="ans-ref">Your answer (reference)</h2>
            <p>{reference}</p>
          </section>
        )}
        {session?.hasAdapter && (
          <section className="card answer" aria-labelledby="ans-tuned" aria-busy={busy === 'tuned'}>
            <h2 id="ans-tuned">Tuned model</h2>
            <p data-testid="answer-tuned" aria-live="polite">
              {answers.tuned || (busy === 'tuned' ? 'Writing…' : '')}
            </p>
            {asked && !busy && answers.tuned.trim() && (
              <RateAnswer key={`t-${answers.tuned}`} project={project} runId={runId} which="tuned" whose="the tuned model" idPrefix="chat-tuned" prompt={asked} answer={answers.tuned.trim()} onSaved={setCorrections} />
            )}
          </section>
        )}
        <section className="card answer" aria-labelledby="ans-base" aria-busy={busy === 'base'}>
          <h2 id="ans-base">Original model</h2>
          <p data-testid="answer-base" aria-live="polite">
            {answers.base || (busy === 'base' ? 'Writing…' : busy === 'tuned' ? 'Waits for the tuned model to finish…' : '')}
          </p>
          {asked && !busy && answers.base.trim() && (
            <RateAnswer key={`b-${answers.base}`} project={project} runId={runId} which="base" whose="the original model" idPrefix="chat-base" prompt={asked} answer={answers.base.trim()} onSaved={setCorrections} />
          )}
        </section>
      </div>

      <p className="muted" aria-live="polite" data-testid="corrections-count">
        {corrections.corrections.length === 0
          ? 'No corrections in this project yet: give a wrong answer a thumbs down and write the right one.'
          : `This project has ${plural(corrections.corrections.length, 'correction')}`}
        {corrections.corrections.length > 0 && ` (answers rated: ${corrections.ratings.up} up, ${corrections.ratings.down} down).`}
      </p>

      {runId && <ReviewPanel project={project} runId={runId} noHeldOut={state.project.data?.val === 0} onSaved={setCorrections} />}

      <TeachAgain
        project={project}
        run={runs.find((r) => r.runId === runId)}
        corrections={corrections}
        onUse={(id) => {
          void loadRuns().then(() => update({ runId: id }));
        }}
      />

      <div className="nav-buttons">
        <button type="button" className="primary" onClick={next}>
          Next: export
        </button>
      </div>
    </div>
  );
}

const SAMPLING_FIELDS: { key: keyof Sampling; id: string; label: string; help: string; step: number }[] = [
  { key: 'temperature', id: 's-temp', label: 'Creativity (temperature)', help: '0 always gives the same answer; higher is more varied.', step: 0.1 },
  { key: 'maxTokens', id: 's-max', label: 'Longest answer (tokens)', help: 'Where the answer is cut off.', step: 1 },
  { key: 'topP', id: 's-topp', label: 'Top P', help: 'Only the most likely words that add up to this share are considered.', step: 0.05 },
  { key: 'topK', id: 's-topk', label: 'Top K', help: 'Only this many most likely words are considered (0 = no limit).', step: 1 },
  { key: 'seed', id: 's-seed', label: 'Seed', help: 'The same seed and settings give the same answer.', step: 1 },
];

/** The held-out review: losses of base and tuned, and their answers next to yours, scored. */
function ReviewPanel({ project, runId, noHeldOut, onSaved }: { project: string; runId: string; noHeldOut: boolean; onSaved: (info: CorrectionsInfo) => void }) {
  const [report, setReport] = useState<ReviewReport>();
  const [current, setCurrent] = useState(0);
  const rateRefs = useRef<(RateAnswerHandle | null)[]>([]);
  const articles = useRef<(HTMLElement | null)[]>([]);
  const go = (i: number) => {
    if (!report) return;
    const next = Math.max(0, Math.min(report.samples.length - 1, i));
    setCurrent(next);
    articles.current[next]?.focus();
  };
  /** J/K or the arrows move between questions; U gives the tuned answer a thumbs up, D a thumbs down to correct it. */
  const onKey = (e: React.KeyboardEvent) => {
    const t = e.target as HTMLElement;
    if (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT' || e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key.toLowerCase();
    if (key === 'j' || key === 'arrowdown') go(current + 1);
    else if (key === 'k' || key === 'arrowup') go(current - 1);
    else if (key === 'u') rateRefs.current[current]?.up();
    else if (key === 'd') rateRefs.current[current]?.down();
    else return;
    e.preventDefault();
  };
  const [progress, setProgress] = useState<{ done: number; total: number }>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  useEffect(() => {
    setReport(undefined);
    setProgress(undefined);
    return attune.review.onProgress((p) => {
      if (p.project === project && p.runId === runId) setProgress({ done: p.done, total: p.total });
    });
  }, [project, runId]);

  const run = async () => {
    setBusy(true);
    setError(undefined);
    setReport(undefined);
    setProgress(undefined);
    try {
      setReport(await attune.review.run({ project, runId }));
      setCurrent(0);
      // The first question takes focus, ready for the keys.
      requestAnimationFrame(() => requestAnimationFrame(() => articles.current[0]?.focus()));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const words = report && reviewSummaryText(report);
  const score = (x: number, other: number) => (
    <span className={`score ${x > other ? 'better' : ''}`}>Similarity to yours: {x.toFixed(2)}</span>
  );
  return (
    <section className="card" aria-labelledby="review-h">
      <h2 id="review-h">Review on your held-out examples</h2>
      <p className="muted">
        Attune asks the original and the tuned model the questions it kept aside (the model never learned from them) and puts both answers next to yours.
      </p>
      {noHeldOut ? (
        <p data-testid="review-unavailable">
          You kept no held-out examples in the Data step, so there are no questions the model never learned from: the review cannot score it. Ask your own
          questions above, or keep a share of your examples aside in the Data step and tune again.
        </p>
      ) : (
        <div className="row">
          <button type="button" onClick={() => void run()} disabled={busy}>
            {report ? 'Run the review again' : 'Run the review'}
          </button>
        </div>
      )}
      <TaskStatus
        id="review-progress"
        busy={busy}
        label={progress ? `Reviewing: ${progress.done} of ${progress.total} done` : 'Loading the model…'}
        value={progress?.done ?? 0}
        max={progress?.total ?? 1}
        error={error}
      />
      {report && words && (
        <div data-testid="review-report" onKeyDown={onKey}>
          <p data-testid="review-loss">{words.loss}</p>
          <p data-testid="review-similarity">{words.similarity}</p>
          <p className="keys" id="review-keys" data-testid="review-keys">
            Keys: <kbd>J</kbd> or <kbd>↓</kbd> next question, <kbd>K</kbd> or <kbd>↑</kbd> previous, <kbd>U</kbd> thumbs up for the tuned answer, <kbd>D</kbd> thumbs
            down to correct it; in the correction <kbd>Enter</kbd> saves and <kbd>Esc</kbd> cancels.
          </p>
          {report.samples.map((x, i) => (
            <article
              key={i}
              ref={(el) => void (articles.current[i] = el)}
              tabIndex={i === current ? 0 : -1}
              onFocus={() => setCurrent(i)}
              className={`review-sample${i === current ? ' current' : ''}`}
              aria-label={`Held-out question ${i + 1} of ${report.samples.length}`}
              aria-describedby="review-keys"
            >
              <p>
                Question {i + 1}: {x.prompt}
              </p>
              <div className="review-grid">
                <div>
                  <h4>Your answer</h4>
                  {x.expected.trim()}
                </div>
                <div>
                  <h4>Original model</h4>
                  {x.base.trim() || <em className="muted">(no answer)</em>}
                  {score(x.baseScore, x.tunedScore)}
                  <RateAnswer project={project} runId={runId} which="base" whose="the original model" idPrefix={`review-base-${i}`} prompt={reviewPrompt(x)} answer={x.base.trim()} onSaved={onSaved} />
                </div>
                <div>
                  <h4>Tuned model</h4>
                  {x.tuned.trim() || <em className="muted">(no answer)</em>}
                  {score(x.tunedScore, x.baseScore)}
                  <RateAnswer
                    ref={(h) => void (rateRefs.current[i] = h)}
                    project={project}
                    runId={runId}
                    which="tuned"
                    whose="the tuned model"
                    idPrefix={`review-${i}`}
                    prompt={reviewPrompt(x)}
                    answer={x.tuned.trim()}
                    onSaved={onSaved}
                  />
                </div>
              </div>
            </article>
          ))}
        </div>
      )}
    </section>
  );
}

/** A review question as the conversation the model was asked. */
function reviewPrompt(x: ReviewSample): Example['messages'] {
  return [...(x.system ? [{ role: 'system' as const, content: x.system }] : []), { role: 'user' as const, content: x.prompt }];
}
