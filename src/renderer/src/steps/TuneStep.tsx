/** Step 3: presets and advanced settings, then a live chart, progress, time left, pause/resume/cancel. */
import { useEffect, useMemo, useState } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { Advanced, LengthCheck, MetricsPoint, ModelInfo, PresetName, RunSummary, TuneEvent } from '../../../shared/contract.js';
import { DEVICE_LABELS, DEVICE_NAMES } from '../../../shared/devices.js';
import { FALLBACK_TEMPLATE } from '../../../shared/templates.js';
import { ADVANCED_HELP, CHECKS_PER_RUN, estimateSteps, PRESETS, resolveEvalEvery, TEMPLATE_TITLES } from '../../../shared/presets.js';
import { attune, errorText } from '../api.js';
import { formatDuration, plural } from '../format.js';
import { lengthWarningText, outcomeText, untrainedTokensText } from '../explain.js';
import type { StepProps } from './types.js';

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
  const [model, setModel] = useState<ModelInfo>();
  const [templates, setTemplates] = useState<string[]>([]);
  const [lengthCheck, setLengthCheck] = useState<LengthCheck>();
  const [checking, setChecking] = useState(false);

  const current = runs.find((r) => r.runId === state.runId);

  useEffect(() => {
    void attune.tune.templates({}).then(setTemplates).catch(() => undefined);
  }, []);
  useEffect(() => {
    setModel(undefined);
    if (!state.modelPath) return;
    attune.models
      .inspect({ path: state.modelPath })
      .then((m) => {
        setModel(m);
        // A model without a template of its own is tuned with a standard one.
        if (m.hasChatTemplate === false) setAdvanced((a) => (a.template === 'model' ? { ...a, template: FALLBACK_TEMPLATE } : a));
      })
      .catch(() => undefined);
  }, [state.modelPath]);

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
      } else if (event.type === 'tokens') {
        setRuns((rs) => rs.map((x) => (x.runId === runId ? { ...x, trainedTokens: event.tokens } : x)));
      }
    });
  }, [project, state.runId]);

  const choosePreset = (p: PresetName) => {
    setPreset(p);
    setAdvanced((a) => ({ ...PRESETS[p].values, template: a.template }));
    setLengthCheck(undefined);
  };
  const set = (patch: Partial<Advanced>) => {
    setAdvanced((a) => ({ ...a, ...patch }));
    setLengthCheck(undefined);
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

  const launch = (settings: Advanced) => {
    setLengthCheck(undefined);
    const changed = Object.fromEntries(Object.entries(settings).filter(([k, v]) => PRESETS[preset].values[k as keyof Advanced] !== v));
    void act(() => attune.tune.start({ project, modelPath: state.modelPath!, preset, advanced: changed }));
  };

  /** Re-checks the examples with this model's tokenizer and max length first; warns when some would be left out. */
  const start = async () => {
    if (!state.modelPath) return setError('Choose a model in the Model step first.');
    setError(undefined);
    setChecking(true);
    try {
      const c = await attune.tune.check({ project, modelPath: state.modelPath, maxLength: advanced.maxLength, template: advanced.template });
      if (c.tooLong > 0) setLengthCheck(c);
      else launch(advanced);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setChecking(false);
    }
  };

  const trainExamples = state.project.data?.train;
  const plannedSteps = trainExamples ? estimateSteps(trainExamples, advanced.batchSize, advanced.epochs) : undefined;
  const plannedEvalEvery = plannedSteps ? resolveEvalEvery(advanced.evalEvery, plannedSteps) : undefined;
  const untrained = model?.untrainedTokens?.length ? untrainedTokensText(model.untrainedTokens, model.stopTokens) : undefined;
  const templateChoices = [...(model?.hasChatTemplate === false ? [] : ['model']), ...templates];

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
                    onChange={(e) => set({ [f.key]: Number(e.target.value) })}
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
                  onChange={(e) => set({ device: e.target.value as Advanced['device'] })}
                >
                  <option value="auto">Automatic</option>
                  {DEVICE_NAMES.map((d) => (
                    <option key={d} value={d}>
                      {DEVICE_LABELS[d]}
                    </option>
                  ))}
                </select>
                <small id="adv-device-help">{ADVANCED_HELP.device}</small>
              </div>
              <div className="field">
                <label htmlFor="adv-template">Chat template</label>
                <select id="adv-template" value={advanced.template} aria-describedby="adv-template-help" onChange={(e) => set({ template: e.target.value })}>
                  {templateChoices.map((t) => (
                    <option key={t} value={t}>
                      {TEMPLATE_TITLES[t] ?? t}
                    </option>
                  ))}
                </select>
                <small id="adv-template-help">{ADVANCED_HELP.template}</small>
              </div>
              <div className="field">
                <label>
                  <input type="checkbox" checked={advanced.trainTokens === 'auto'} aria-describedby="adv-tokens-help" onChange={(e) => set({ trainTokens: e.target.checked ? 'auto' : 'none' })} /> Also teach untrained tokens
                </label>
                <small id="adv-tokens-help">
                  {ADVANCED_HELP.trainTokens}
                  {untrained && advanced.template === 'model' ? ` ${untrained}` : ''}
                </small>
              </div>
              <div className="field">
                <label htmlFor="adv-base-weights">Base model in memory</label>
                <select id="adv-base-weights" value={advanced.baseStorage} aria-describedby="adv-base-weights-help" onChange={(e) => set({ baseStorage: e.target.value as Advanced['baseStorage'] })}>
                  <option value="f32">Exact (most memory)</option>
                  <option value="f16">Half size</option>
                  <option value="int8">Quarter size</option>
                  <option value="int4">Eighth size (least memory)</option>
                </select>
                <small id="adv-base-weights-help">{ADVANCED_HELP.baseStorage}</small>
              </div>
              <div className="field">
                <label>
                  <input type="checkbox" checked={advanced.recomputeActivations} aria-describedby="adv-activations-help" onChange={(e) => set({ recomputeActivations: e.target.checked })} /> Save memory while learning (slower)
                </label>
                <small id="adv-activations-help">{ADVANCED_HELP.recomputeActivations}</small>
              </div>
            </div>
            <fieldset className="card" aria-describedby="early-help">
              <legend>Early stopping</legend>
              <label>
                <input type="checkbox" checked={advanced.earlyStopping} onChange={(e) => set({ earlyStopping: e.target.checked })} /> Stop when the answers to held-out examples stop improving
              </label>
              <p id="early-help" className="muted" data-testid="early-stopping-help">
                {ADVANCED_HELP.earlyStopping}{' '}
                {plannedSteps && plannedEvalEvery
                  ? advanced.earlyStopping
                    ? `With ${plural(trainExamples!, 'example')} to learn from, this run takes about ${plural(plannedSteps, 'step')}: Attune checks every ${plural(plannedEvalEvery, 'step')} (about ${Math.max(1, Math.round(plannedSteps / plannedEvalEvery))} checks${advanced.evalEvery === 0 ? `, chosen to give about ${CHECKS_PER_RUN}` : ''}) and stops after ${plural(advanced.patience, 'check')} in a row without improvement.`
                    : `Early stopping is off: all ${plural(plannedSteps, 'step')} run, with a check every ${plural(plannedEvalEvery, 'step')}; Attune still keeps the best version.`
                  : ''}
              </p>
              <div className="grid">
                <div className="field">
                  <label htmlFor="adv-evalEvery">Check every (steps)</label>
                  <input id="adv-evalEvery" type="number" min={0} step={1} value={advanced.evalEvery} aria-describedby="adv-evalEvery-help" onChange={(e) => set({ evalEvery: Number(e.target.value) })} />
                  <small id="adv-evalEvery-help">{ADVANCED_HELP.evalEvery}</small>
                </div>
                <div className="field">
                  <label htmlFor="adv-patience">Patience (checks)</label>
                  <input id="adv-patience" type="number" min={1} step={1} value={advanced.patience} disabled={!advanced.earlyStopping} aria-describedby="adv-patience-help" onChange={(e) => set({ patience: Number(e.target.value) })} />
                  <small id="adv-patience-help">{ADVANCED_HELP.patience}</small>
                </div>
              </div>
            </fieldset>
          </details>
          {lengthCheck ? (
            <div className="card warning-box" role="alert" data-testid="length-warning">
              <p>{lengthWarningText(lengthCheck)}</p>
              {lengthCheck.samples.length > 0 && (
                <details>
                  <summary>Which examples</summary>
                  <ul>
                    {lengthCheck.samples.map((x) => (
                      <li key={x.line}>{x.message}</li>
                    ))}
                  </ul>
                </details>
              )}
              <div className="row">
                {lengthCheck.suggestedMaxLength !== undefined && (
                  <button type="button" className="primary" onClick={() => launch({ ...advanced, maxLength: lengthCheck.suggestedMaxLength! })}>
                    Raise the max length to {lengthCheck.suggestedMaxLength} and start
                  </button>
                )}
                <button type="button" onClick={() => launch(advanced)}>
                  Start anyway, leaving {lengthCheck.tooLong === 1 ? 'it' : 'them'} out
                </button>
                <button type="button" onClick={() => setLengthCheck(undefined)}>
                  Back to the settings
                </button>
              </div>
            </div>
          ) : (
            <div className="row">
              <button type="button" className="primary" onClick={() => void start()} disabled={checking}>
                {checking ? 'Checking your examples…' : 'Start tuning'}
              </button>
            </div>
          )}
        </section>
      )}

      {current && (
        <section className="card" aria-labelledby="run-h">
          <h2 id="run-h">
            Run {current.runId}: <span data-testid="run-state">{STATE_TEXT[current.state]}</span>
          </h2>
          {current.message && <p className={current.state === 'done' ? 'ok' : 'error'}>{current.message}</p>}
          {(current.state === 'done' || current.state === 'cancelled') && current.stoppedBecause && (
            <p className="outcome" data-testid="run-outcome">
              {outcomeText(current)}
            </p>
          )}
          {current.trainedTokens && current.trainedTokens.length > 0 && (
            <p className="muted" data-testid="trained-tokens">
              Also {live ? 'teaching' : 'taught'} the model {current.trainedTokens.length === 1 ? 'a token' : 'tokens'} it had never learned: {current.trainedTokens.join(' ')}.
            </p>
          )}
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
              Running on {DEVICE_LABELS[(device?.device ?? current.device) as keyof typeof DEVICE_LABELS] ?? device?.device ?? current.device}, because {device?.why ?? current.deviceWhy}.
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
