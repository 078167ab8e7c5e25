/** Step 5: save the tuned model in a form other programs use, or serve it to them on this computer. */
import { useEffect, useRef, useState } from 'react';
import type { ExportChoice, ExportFormat, ExportResult, RunSummary, ServerInfo } from '../../../shared/contract.js';
import { attune, errorText } from '../api.js';
import { formatBytes } from '../format.js';
import { runLabel } from '../runs.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { TaskStatus } from '../components/TaskStatus.js';
import type { StepProps } from './types.js';

export function ExportStep({ state, update }: StepProps) {
  const project = state.project.name;
  const [choices, setChoices] = useState<ExportChoice[]>([]);
  const [format, setFormat] = useState<ExportFormat>('peft');
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [progress, setProgress] = useState<{ fraction: number; stage: string }>();
  const [result, setResult] = useState<ExportResult>();
  const [busy, setBusy] = useState(false);
  const [confirmReplace, setConfirmReplace] = useState(false);
  const [error, setError] = useState<string>();
  const saveRef = useRef<HTMLButtonElement>(null);
  const doneRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    if (result) doneRef.current?.focus();
  }, [result]);

  useEffect(() => {
    void attune.export.choices({}).then(setChoices);
    void attune.tune.runs({ project }).then((rs) => setRuns(rs.filter((r) => r.state === 'done')));
    return attune.export.onProgress((p) => p.project === project && setProgress({ fraction: p.fraction, stage: p.stage }));
  }, [project]);

  const run = runs.find((r) => r.runId === state.runId) ?? runs[0];
  const title = choices.find((c) => c.format === format)?.title ?? format;

  const doExport = async (overwrite: boolean) => {
    if (!run) return;
    setConfirmReplace(false);
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    setProgress(undefined);
    try {
      // An earlier export of this run in this form: ask before replacing it.
      if (!overwrite && (await attune.export.existing({ project, runId: run.runId, format })).exists) {
        setConfirmReplace(true);
        return;
      }
      setResult(await attune.export.run({ project, runId: run.runId, modelPath: run.modelPath, format, overwrite }));
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
      {run && (
        <p data-testid="export-run">
          This saves the tuned model from the <strong>{runLabel(run)}</strong>.
        </p>
      )}
      {runs.length > 1 && run && (
        <div className="field">
          <label htmlFor="export-run-choice">Which run to save</label>
          <select
            id="export-run-choice"
            value={run.runId}
            onChange={(e) => {
              update({ runId: e.target.value });
              setResult(undefined);
              setConfirmReplace(false);
            }}
          >
            {runs.map((r) => (
              <option key={r.runId} value={r.runId}>
                {runLabel(r)}
              </option>
            ))}
          </select>
        </div>
      )}
      <fieldset className="choices">
        <legend>How to save it</legend>
        {choices.map((c) => (
          <label key={c.format} className={`card choice ${format === c.format ? 'selected' : ''}`}>
            <input
              type="radio"
              name="format"
              value={c.format}
              checked={format === c.format}
              onChange={() => {
                setFormat(c.format);
                setConfirmReplace(false);
              }}
            />
            <strong>{c.title}</strong>
            <span>{c.explanation}</span>
          </label>
        ))}
      </fieldset>
      <div className="row">
        <button ref={saveRef} type="button" className="primary" disabled={!run || busy || confirmReplace} onClick={() => void doExport(false)}>
          Save the tuned model
        </button>
      </div>
      {confirmReplace && run && (
        <ConfirmDialog
          id="replace"
          title="Replace the earlier copy?"
          returnTo={() => saveRef.current}
          choices={[
            { label: 'Replace it', primary: true, onChoose: () => void doExport(true) },
            { label: 'Keep the earlier copy', onChoose: () => setConfirmReplace(false) },
          ]}
        >
          <p>
            You already saved the {runLabel(run)} as “{title}”. Saving again replaces those files.
          </p>
        </ConfirmDialog>
      )}
      <TaskStatus
        id="export-progress"
        busy={busy}
        label={progress ? `${progress.stage} ${Math.round(progress.fraction * 100)}%` : 'Exporting…'}
        value={progress?.fraction ?? 0}
        max={1}
        error={error}
      />
      {result && (
        <section className="card" aria-labelledby="export-done">
          <h2 id="export-done" ref={doneRef} tabIndex={-1}>
            Saved
          </h2>
          <p className="ok">Your model was saved to {result.out}</p>
          <ul>
            {result.files.map((f) => (
              <li key={f.name}>
                {f.name} ({formatBytes(f.bytes)})
              </li>
            ))}
          </ul>
          {result.warnings.map((w) => (
            <p key={w} className="note">
              {w}
            </p>
          ))}
          <button type="button" onClick={() => void attune.export.reveal({ project, out: result.out })}>
            Show in folder
          </button>
        </section>
      )}
      {run && <ServerPanel project={project} run={run} />}
    </div>
  );
}

/** The local OpenAI-compatible server: started only when the person asks, stopped on request or at quit. */
function ServerPanel({ project, run }: { project: string; run: RunSummary }) {
  const [server, setServer] = useState<ServerInfo | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  useEffect(() => {
    void attune.serve.status({}).then(setServer);
    return attune.serve.onState(setServer);
  }, []);

  const act = async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await f();
      setServer(await attune.serve.status({}));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const serving = server && server.project === project && server.runId === run.runId;
  return (
    <section className="card" aria-labelledby="serve-h">
      <h2 id="serve-h">Use it from other programs on this computer</h2>
      <p className="muted">
        Attune can answer like the OpenAI API, so help-desk tools and scripts that speak it can use your tuned model. It listens on this computer only
        (127.0.0.1) and runs until you stop it or close Attune.
      </p>
      {serving ? (
        <div data-testid="server-running">
          <p>
            Running. Help-desk tools that speak the OpenAI API can use <code className="url" data-testid="server-url">{server.url}</code> with the model
            name <code>{server.modelId}</code> (any API key will do).
          </p>
          <button type="button" disabled={busy} onClick={() => void act(() => attune.serve.stop({}))}>
            Stop the server
          </button>
        </div>
      ) : (
        <>
          {server && (
            <p className="muted">
              The server is running for run {server.runId} of project {server.project}; starting it here stops that one.
            </p>
          )}
          <button type="button" disabled={busy} onClick={() => void act(() => attune.serve.start({ project, runId: run.runId }))}>
            {busy ? 'Starting…' : 'Start the local server'}
          </button>
        </>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </section>
  );
}
