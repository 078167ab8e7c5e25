/** Step 3: presets and advanced settings, then a live chart, progress, time left, pause/resume/cancel. */
import { useEffect, useMemo, useState } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { Advanced, MetricsPoint, PresetName, RunSummary, TuneEvent } from '../../../shared/contract.js';
import { ADVANCED_HELP, PRESETS } from '../../../shared/presets.js';
import { attune, errorText } from '../api.js';
import { formatDuration } from '../format.js';
import type { StepProps } from '../App.js';

const STATE_TEXT: Record<RunSummary['state'], string> = {
  queued: 'Waiting to start',
  running: 'Training',
  pausing: 'Pausing (saving progress)…',
  paused: 'Paused',
  cancelling: 'Stopping…',
  cancelled: 'Cancelled',
  done: 'Finished',
  failed: 'Stopped with an error',
  crashed: 'Stopped unexpectedly',
};

const FIELDS: { key: 'rank' | 'learningRate' | 'epochs' | 'batchSize' | 'maxLength' | 'seed'; label: string; step: number }[] = [
  { key: 'rank', label: 'Rank', step: 1 },
  { key: 'learningRate', label: 'Learning rate', step: 0.00001 },
  { key: 'epochs', label: 'Epochs', step: 1 },
  { key: 'batchSize', label: 'Batch size', step: 1 },
  { key: 'maxLength', label: 'Max length (tokens)', step: 16 },
  { key: 'seed', label: 'Seed', step: 1 },
];

export function TuneStep({ state, update, next }: StepProps) {
  const project = state.project.name;
  const [preset, setPreset] = useState<PresetName>('quick');
  const [advanced, setAdvanced] = useState<Advanced>(PRESETS.quick.values);
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [points, setPoints] = useState<MetricsPoint[]>([]);
  const [last, setLast] = useState<Extract<TuneEvent, { type: 'step' }>>();
  const [device, setDevice] = useState<{ device: string; why: string }>();
  const [error, setError] = useState<string>();

  const current = runs.find((r) => r.runId === state.runId);

  const refresh = async () => {
    const list = await attune.tune.runs({ project });
    setRuns(list);
    return list;
  };

  useEffect(() => {
    void refresh().then((list) => {
      if (!state.runId && list[0]) update({ runId: list[0].runId });
    });
    const offState = attune.tune.onState((s) => {
      if (s.project !== project) return;
      setRuns((rs) => [s, ...rs.filter((r) => r.runId !== s.runId)].sort((a, b) => b.startedAt.localeCompare(a.startedAt)));
    });
    return offState;
  }, [project]);

  // Load the chart of the selected run, then follow its live events.
  useEffect(() => {
    if (!state.runId) return;
    const runId = state.runId;
    setPoints([]);
    setLast(undefined);
    setDevice(undefined);
    void attune.tune.metrics({ project, runId }).then((m) => setPoints((p) => (p.length ? p : m)));
    return attune.tune.onProgress(({ project: p, runId: r, event }) => {
      if (p !== project || r !== runId) return;
      if (event.type === 'step') {
        setLast(event);
        setPoints((ps) => [...ps, { step: event.step, loss: event.loss, tokensPerSecond: event.tokensPerSecond }]);
      } else if (event.type === 'eval') {
        setPoints((ps) => [...ps, { step: event.step, valLoss: event.valLoss }]);
      } else if (event.type === 'device') {
        setDevice({ device: event.device, why: event.why });
      }
    });
  }, [project, state.runId]);

  const choosePreset = (p: PresetName) => {
    setPreset(p);
    setAdvanced(PRESETS[p].values);
  };

  const act = async (f: () => Promise<RunSummary>) => {
    setError(undefined);
    try {
      const s = await f();
      setRuns((rs) => [s, ...rs.filter((r) => r.runId !== s.runId)]);
      update({ runId: s.runId });
    } catch (e) {
      setError(errorText(e));
    }
  };

  const start = () => {
    if (!state.modelPath) return setError('Choose a model in the Model step first.');
    const changed = Object.fromEntries(Object.entries(advanced).filter(([k, v]) => PRESETS[preset].values[k as keyof Advanced] !== v));
    void act(() => attune.tune.start({ project, modelPath: state.modelPath!, preset, advanced: changed }));
  };

  const live = current && ['running', 'pausing', 'cancelling', 'queued'].includes(current.state);
  const step = last?.step ?? current?.step ?? 0;
  const total = last?.totalSteps ?? current?.totalSteps;
  const chart = useMemo(() => mergeByStep(points), [points]);

  return (
    <div className="step">
      <p className="lead">Attune now teaches the model your examples. You can keep using the computer; pausing keeps what it has learned so far.</p>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {!live && (
        <section className="card" aria-labelledby="settings-h">
          <h2 id="settings-h">How thoroughly</h2>
          <fieldset className="presets">
            <legend className="sr-only">Preset</legend>
            {Object.values(PRESETS).map((p) => (
              <label key={p.name} className={`card preset ${preset === p.name ? 'selected' : ''}`}>
                <input type="radio" name="preset" value={p.name} checked={preset === p.name} onChange={() => choosePreset(p.name)} />
                <strong>{p.title}</strong>
                <span>{p.explanation}</span>
              </label>
            ))}
          </fieldset>
          <details>
            <summary>Advanced settings</summary>
            <div className="grid">
              {FIELDS.map((f) => (
                <div key={f.key} className="field">
                  <label htmlFor={`adv-${f.key}`}>{f.label}</label>
                  <input
                    id={`adv-${f.key}`}
                    type="number"
                    step={f.step}
                    value={advanced[f.key]}
                    aria-describedby={`adv-${f.key}-help`}
                    onChange={(e) => setAdvanced({ ...advanced, [f.key]: Number(e.target.value) })}
                  />
                  <small id={`adv-${f.key}-help`}>{ADVANCED_HELP[f.key]}</small>
                </div>
              ))}
              <div className="field">
                <label htmlFor="adv-device">Device</label>
                <select
                  id="adv-device"
                  value={advanced.device}
                  aria-describedby="adv-device-help"
                  onChange={(e) => setAdvanced({ ...advanced, device: e.target.value as Advanced['device'] })}
                >
                  <option value="auto">Automatic</option>
                  <option value="cpu">CPU</option>
                  <option value="cuda">NVIDIA GPU (CUDA)</option>
                  <option value="webgpu">GPU (WebGPU)</option>
                  <option value="dml">GPU (DirectML, Windows)</option>
                </select>
                <small id="adv-device-help">{ADVANCED_HELP.device}</small>
              </div>
            </div>
          </details>
          <div className="row">
            <button type="button" className="primary" onClick={start}>
              Start tuning
            </button>
          </div>
        </section>
      )}

      {current && (
        <section className="card" aria-labelledby="run-h">
          <h2 id="run-h">
            Run {current.runId}: <span data-testid="run-state">{STATE_TEXT[current.state]}</span>
          </h2>
          {current.message && <p className={current.state === 'done' ? 'ok' : 'error'}>{current.message}</p>}
          <div aria-live="polite">
            {total ? (
              <>
                <label htmlFor="tune-progress">
                  Step {step} of {total}
                  {live && last ? ` — time left: ${formatDuration(last.etaSeconds)}` : ''}
                </label>
                <progress id="tune-progress" max={total} value={step} />
              </>
            ) : live ? (
              <p>Preparing the model (the first time this takes a little longer)…</p>
            ) : null}
            {last && (
              <p className="muted">
                Loss {last.loss.toFixed(3)} · {Math.round(last.tokensPerSecond)} tokens per second · epoch {last.epoch}
              </p>
            )}
          </div>
          {(device ?? current.device) && (
            <p className="muted">
              Running on {(device?.device ?? current.device)!.toUpperCase()}, because {device?.why ?? current.deviceWhy}.
            </p>
          )}
          <figure className="chart" aria-labelledby="chart-caption">
            <figcaption id="chart-caption">
              How far the model's answers are from yours (loss; lower is better). The held-out line shows examples it never learned from.
            </figcaption>
            <div className="chart-box" data-testid="loss-chart" data-points={chart.length}>
              <ResponsiveContainer width="100%" height={260}>
                <LineChart data={chart} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
                  <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
                  <XAxis dataKey="step" stroke="var(--muted)" label={{ value: 'step', position: 'insideBottomRight', offset: -4 }} />
                  <YAxis stroke="var(--muted)" domain={['auto', 'auto']} />
                  <Tooltip contentStyle={{ background: 'var(--surface)', color: 'var(--text)' }} />
                  <Legend />
                  <Line type="monotone" dataKey="loss" name="Training loss" stroke="var(--accent)" dot={false} isAnimationActive={false} connectNulls />
                  <Line type="monotone" dataKey="valLoss" name="Held-out loss" stroke="var(--accent2)" isAnimationActive={false} connectNulls />
                </LineChart>
              </ResponsiveContainer>
            </div>
          </figure>
          <div className="row">
            {current.state === 'running' && (
              <>
                <button type="button" onClick={() => void act(() => attune.tune.pause({ project, runId: current.runId }))}>
                  Pause
                </button>
                <button type="button" onClick={() => void act(() => attune.tune.cancel({ project, runId: current.runId }))}>
                  Cancel
                </button>
              </>
            )}
            {current.resumable && (
              <button type="button" className="primary" onClick={() => void act(() => attune.tune.resume({ project, runId: current.runId }))}>
                Resume from the last saved point
              </button>
            )}
          </div>
        </section>
      )}

      {runs.length > 1 && (
        <section className="card" aria-labelledby="runs-h">
          <h2 id="runs-h">Earlier runs</h2>
          <ul className="plain">
            {runs.map((r) => (
              <li key={r.runId}>
                <button type="button" aria-pressed={r.runId === state.runId} onClick={() => update({ runId: r.runId })}>
                  {r.runId}
                </button>{' '}
                {r.preset}, {STATE_TEXT[r.state]}
              </li>
            ))}
          </ul>
        </section>
      )}

      <div className="nav-buttons">
        <button type="button" className="primary" onClick={next} disabled={current?.state !== 'done'}>
          Next: try it in a chat
        </button>
      </div>
    </div>
  );
}

/** One row per step with the training and held-out loss side by side. */
export function mergeByStep(points: MetricsPoint[]): MetricsPoint[] {
  const byStep = new Map<number, MetricsPoint>();
  for (const p of points) byStep.set(p.step, { ...byStep.get(p.step), ...p });
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}
