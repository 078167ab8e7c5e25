/** Step 5: save the tuned model in a form other programs use, with a plain explanation of each. */
import { useEffect, useState } from 'react';
import type { ExportChoice, ExportFormat, ExportResult, RunSummary } from '../../../shared/contract.js';
import { attune, errorText } from '../api.js';
import { formatBytes } from '../format.js';
import type { StepProps } from '../App.js';

export function ExportStep({ state }: StepProps) {
  const project = state.project.name;
  const [choices, setChoices] = useState<ExportChoice[]>([]);
  const [format, setFormat] = useState<ExportFormat>('peft');
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [progress, setProgress] = useState<{ fraction: number; stage: string }>();
  const [result, setResult] = useState<ExportResult>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  useEffect(() => {
    void attune.export.choices({}).then(setChoices);
    void attune.tune.runs({ project }).then((rs) => setRuns(rs.filter((r) => r.state === 'done')));
    return attune.export.onProgress((p) => p.project === project && setProgress({ fraction: p.fraction, stage: p.stage }));
  }, [project]);

  const run = runs.find((r) => r.runId === state.runId) ?? runs[0];

  const doExport = async () => {
    if (!run) return;
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    setProgress(undefined);
    try {
      setResult(await attune.export.run({ project, runId: run.runId, modelPath: run.modelPath, format }));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="step">
      <p className="lead">Save your tuned model so other programs can use it. Everything stays in the project's “exports” folder.</p>
      {!run && <p>Finish a training run in the Tune step first.</p>}
      <fieldset className="choices">
        <legend>How to save it</legend>
        {choices.map((c) => (
          <label key={c.format} className={`card choice ${format === c.format ? 'selected' : ''}`}>
            <input type="radio" name="format" value={c.format} checked={format === c.format} onChange={() => setFormat(c.format)} />
            <strong>{c.title}</strong>
            <span>{c.explanation}</span>
          </label>
        ))}
      </fieldset>
      <div className="row">
        <button type="button" className="primary" disabled={!run || busy} onClick={() => void doExport()}>
          Save the tuned model
        </button>
      </div>
      <div aria-live="polite">
        {busy && progress && (
          <>
            <label htmlFor="export-progress">{progress.stage}</label>
            <progress id="export-progress" max={1} value={progress.fraction} />
          </>
        )}
        {busy && !progress && <p>Exporting…</p>}
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {result && (
        <section className="card" aria-labelledby="export-done">
          <h2 id="export-done">Saved</h2>
          <p className="ok">Your model was saved to {result.out}</p>
          <ul>
            {result.files.map((f) => (
              <li key={f.name}>
                {f.name} ({formatBytes(f.bytes)})
              </li>
            ))}
          </ul>
          <button type="button" onClick={() => void attune.export.reveal({ project, out: result.out })}>
            Show in folder
          </button>
        </section>
      )}
    </div>
  );
}
