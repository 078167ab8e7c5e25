/**
 * The first run: shown instead of the project list when nothing shows Attune was used here
 * before. It asks where to keep projects (Documents/Attune unless the person picks another
 * folder), shows the bundled sample and what Attune will do, and leads to the Data step with the
 * sample or to the Model step's list of models. Otherwise it shows its children (the project list).
 */
import { useEffect, useState, type ReactNode } from 'react';
import type { FirstRunStatus, ProjectSummary, Settings } from '../../shared/contract.js';
import { attune, errorText } from './api.js';

export const SAMPLE_PROJECT = 'Customer service sample';

export function FirstRun({ onOpen, onSettings, children }: { onOpen: (p: ProjectSummary, step: 'data' | 'model') => void; onSettings: (s: Settings) => void; children: ReactNode }) {
  const [status, setStatus] = useState<FirstRunStatus>();
  const [phase, setPhase] = useState<'folder' | 'sample' | 'done'>('folder');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    attune.welcome
      .status({})
      .then((s) => {
        setStatus(s);
        if (!s.needed) setPhase('done');
      })
      .catch((e) => {
        setError(errorText(e));
        setPhase('done');
      });
  }, []);

  const act = async (fn: () => Promise<void>) => {
    setError(undefined);
    setBusy(true);
    try {
      await fn();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const useFolder = (folder: 'suggested' | 'chosen') =>
    act(async () => {
      onSettings(await attune.welcome.finish({ folder }));
      setPhase('sample');
    });
  const choose = () =>
    act(async () => {
      const dir = await attune.welcome.chooseFolder({});
      if (dir) setStatus((s) => (s ? { ...s, chosenFolder: dir } : s));
    });
  const startWithSample = (step: 'data' | 'model') =>
    act(async () => {
      let project: ProjectSummary;
      try {
        project = await attune.projects.create({ name: SAMPLE_PROJECT });
      } catch {
        project = await attune.projects.open({ name: SAMPLE_PROJECT });
      }
      onOpen(project, step);
    });

  if (phase === 'done') {
    return (
      <>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        {children}
      </>
    );
  }
  if (!status) return <p>Getting ready…</p>;

  return (
    <section aria-labelledby="first-run-heading" className="first-run">
      <h1 id="first-run-heading">Welcome to Attune</h1>
      <p className="lead">
        Attune teaches a small language model to answer the way you do, from examples you give it. Everything happens on this computer: your examples
        never leave it, and it works without the internet.
      </p>
      <section className="card" aria-labelledby="what-attune-does">
        <h2 id="what-attune-does">What Attune will do</h2>
        <ol>
          <li>Read your examples: questions, and the answers you want (a spreadsheet, CSV or JSON file).</li>
          <li>Let you pick a model to teach: a short list of small models that suit this computer, each downloaded once, or one you already have.</li>
          <li>Teach the model your examples (this is called tuning), on this computer’s processor or graphics card.</li>
          <li>Let you chat with the result next to the original, and save it for other programs such as Ollama or LM Studio.</li>
        </ol>
      </section>

      {phase === 'folder' ? (
        <section className="card" aria-labelledby="where-projects">
          <h2 id="where-projects">Where should Attune keep your projects?</h2>
          <p>Each project is a folder with your examples, the tuned models and what you save from them.</p>
          <p>
            Suggested: <code data-testid="suggested-folder">{status.suggestedFolder}</code>
          </p>
          <div className="row">
            <button type="button" className="primary" disabled={busy} onClick={() => void useFolder('suggested')}>
              Use this folder
            </button>
            <button type="button" disabled={busy} onClick={() => void choose()}>
              Choose another folder…
            </button>
          </div>
          {status.chosenFolder && (
            <p>
              Chosen: <code data-testid="chosen-folder">{status.chosenFolder}</code>{' '}
              <button type="button" className="primary" disabled={busy} onClick={() => void useFolder('chosen')}>
                Use the chosen folder
              </button>
            </p>
          )}
          <p className="muted">You can change it later under “Your projects”.</p>
        </section>
      ) : (
        <section className="card" aria-labelledby="try-sample">
          <h2 id="try-sample">Try it with the sample first</h2>
          {status.sample ? (
            <>
              <p data-testid="sample-summary">
                Attune comes with {status.sample.examples} example conversations from the customer service of Juniper Lane, a made-up shop. A few of them:
              </p>
              <ul className="plain sample-preview">
                {status.sample.preview.map((x, i) => (
                  <li key={i}>
                    <p>
                      <strong>Customer:</strong> {clip(x.question)}
                    </p>
                    <p>
                      <strong>Answer:</strong> {clip(x.answer)}
                    </p>
                  </li>
                ))}
              </ul>
            </>
          ) : (
            <p>This installation has no sample; start with a file of your own.</p>
          )}
          <p>
            Next you choose a model: step 2 lists small models that suit this computer; the one you pick is downloaded once, and then everything works
            offline.
          </p>
          <div className="row">
            {status.sample && (
              <button type="button" className="primary" disabled={busy} onClick={() => void startWithSample('data')}>
                Start with the sample
              </button>
            )}
            <button type="button" disabled={busy} onClick={() => void startWithSample('model')}>
              See the models
            </button>
            <button type="button" className="link" disabled={busy} onClick={() => setPhase('done')}>
              Start my own project instead
            </button>
          </div>
        </section>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}

/** A long text on one line, cut at about 240 characters. */
function clip(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 240 ? `${line.slice(0, 237).trimEnd()}…` : line;
}
