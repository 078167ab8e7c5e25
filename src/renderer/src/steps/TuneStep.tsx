/** Step 3: presets and advanced settings, then a live chart, progress, time left, pause/resume/cancel. */
import { useEffect, useState } from 'react';
import type { Advanced, LengthCheck, ModelInfo, PresetName, RunSummary } from '../../../shared/contract.js';
import { PRESETS } from '../../../shared/presets.js';
import { FALLBACK_TEMPLATE } from '../../../shared/templates.js';
import { attune, errorText } from '../api.js';
import type { StepProps } from './types.js';
import { LengthWarning } from './tune/LengthWarning.js';
import { LIVE_STATES, RunPanel } from './tune/RunPanel.js';
import { PassEstimate } from './tune/PassEstimate.js';
import { RunHistory } from './tune/RunHistory.js';
import { settingsProblem, TuneSettings } from './tune/TuneSettings.js';

/** Moves focus to the run's heading once it is drawn, so the person hears what their action did. */
const focusSettings = () => requestAnimationFrame(() => requestAnimationFrame(() => (document.getElementById('run-h') ?? document.getElementById('settings-h'))?.focus()));
const focusRun = () => requestAnimationFrame(() => requestAnimationFrame(() => document.getElementById('run-h')?.focus()));

const newestFirst = (rs: RunSummary[]) => rs.sort((a, b) => b.startedAt.localeCompare(a.startedAt));

/**
 * The project's runs, newest first, kept current by the run events. The list read at the start
 * only adds the runs no event has brought yet: on a busy computer it can arrive after a run
 * started from this step, which it would otherwise drop from the list.
 */
function useRuns(project: string) {
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const put = (s: RunSummary) => setRuns((rs) => newestFirst([s, ...rs.filter((r) => r.runId !== s.runId)]));
  useEffect(() => {
    let current = true;
    setRuns([]);
    void attune.tune.runs({ project }).then((listed) => current && setRuns((rs) => newestFirst([...rs, ...listed.filter((r) => !rs.some((x) => x.runId === r.runId))])));
    const stop = attune.tune.onState((s) => s.project === project && put(s));
    return () => {
      current = false;
      stop();
    };
  }, [project]);
  return { runs, put, setRuns };
}

export function TuneStep({ state, update, next }: StepProps) {
  const project = state.project.name;
  const [preset, setPreset] = useState<PresetName>('quick');
  const [advanced, setAdvanced] = useState<Advanced>(PRESETS.quick.values);
  const [error, setError] = useState<string>();
  const [model, setModel] = useState<ModelInfo>();
  const [templates, setTemplates] = useState<string[]>([]);
  const [lengthCheck, setLengthCheck] = useState<LengthCheck>();
  /** Between the click and the run shown: the button is off, so a second click cannot start a second run. */
  const [busy, setBusy] = useState<'checking' | 'starting'>();
  const { runs, put, setRuns } = useRuns(project);

  const current = runs.find((r) => r.runId === state.runId);
  // The newest run is shown when none is chosen yet.
  useEffect(() => {
    if (!state.runId && runs[0]) update({ runId: runs[0].runId });
  }, [runs, state.runId]);

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

  // The Data step counts long examples against the max length set here.
  useEffect(() => {
    if (Number.isInteger(advanced.maxLength) && advanced.maxLength !== state.maxLength) update({ maxLength: advanced.maxLength });
  }, [advanced.maxLength]);
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
      put(s);
      update({ runId: s.runId });
      focusRun();
    } catch (e) {
      setError(errorText(e));
    }
  };

  const noHeldOut = state.project.data?.val === 0;
  const launch = async (settings: Advanced) => {
    setLengthCheck(undefined);
    setBusy('starting');
    // Without held-out examples there is nothing to stop early on: the run goes without it (the form says so).
    const effective = noHeldOut ? { ...settings, earlyStopping: false } : settings;
    const changed = Object.fromEntries(Object.entries(effective).filter(([k, v]) => PRESETS[preset].values[k as keyof Advanced] !== v));
    await act(() => attune.tune.start({ project, modelPath: state.modelPath!, preset, advanced: changed }));
    setBusy(undefined);
  };

  const problem = settingsProblem(advanced);
  /** Re-checks the examples with this model's tokenizer and max length first; warns when some would be left out. */
  const start = async () => {
    if (!state.modelPath) return setError('Choose a model in the Model step first.');
    if (problem) return setError(problem);
    setError(undefined);
    setBusy('checking');
    try {
      const c = await attune.tune.check({ project, modelPath: state.modelPath, maxLength: advanced.maxLength, template: advanced.template });
      if (c.tooLong > 0) setLengthCheck(c);
      else return await launch(advanced);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy((b) => (b === 'checking' ? undefined : b));
    }
  };

  const live = current && LIVE_STATES.includes(current.state);

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
          <TuneSettings preset={preset} advanced={advanced} model={model} templates={templates} data={state.project.data} onPreset={choosePreset} onChange={set} />
          <PassEstimate
            project={project}
            modelPath={state.modelPath}
            preset={preset}
            advanced={Object.fromEntries(Object.entries(advanced).filter(([k, v]) => PRESETS[preset].values[k as keyof Advanced] !== v))}
          />
          {lengthCheck ? (
            <LengthWarning
              check={lengthCheck}
              onRaise={(maxLength) => void launch({ ...advanced, maxLength })}
              onStartAnyway={() => void launch(advanced)}
              onBack={() => setLengthCheck(undefined)}
              onShow={(where) => update({ showExample: where })}
            />
          ) : (
            <div className="row">
              <button type="button" className="primary" onClick={() => void start()} disabled={!!busy || !!problem} aria-describedby={problem ? 'start-problem' : undefined}>
                {busy === 'checking' ? 'Checking your examples…' : busy === 'starting' ? 'Starting…' : 'Start tuning'}
              </button>
              {problem && (
                <span id="start-problem" className="error">
                  {problem}
                </span>
              )}
            </div>
          )}
        </section>
      )}

      {current && (
        <RunPanel
          key={current.runId}
          project={project}
          run={current}
          act={act}
          onTokens={(tokens) => setRuns((rs) => rs.map((x) => (x.runId === current.runId ? { ...x, trainedTokens: tokens } : x)))}
          onDiscarded={(runId) => {
            setRuns((rs) => rs.filter((x) => x.runId !== runId));
            update({ runId: undefined });
            focusSettings();
          }}
        />
      )}

      <RunHistory runs={runs} currentId={current?.runId} onChoose={(runId) => update({ runId })} />

      <div className="nav-buttons">
        <button type="button" className="primary" onClick={next} disabled={current?.state !== 'done'}>
          Next: try it in a chat
        </button>
      </div>
    </div>
  );
}
