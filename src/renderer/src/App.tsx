/** The wizard: a project, then five steps (Data, Model, Tune, Chat, Export). */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { AppInfo, ProjectSummary, Theme } from '../../shared/contract.js';
import { attune, errorText } from './api.js';
import { ProjectPicker } from './ProjectPicker.js';
import { FirstRun } from './FirstRun.js';
import { DataStep } from './steps/DataStep.js';
import { ModelStep } from './steps/ModelStep.js';
import { TuneStep } from './steps/TuneStep.js';
import { ChatStep } from './steps/ChatStep.js';
import { ExportStep } from './steps/ExportStep.js';
import type { WizardState } from './steps/types.js';

export const STEPS = [
  { id: 'data', title: 'Data', hint: 'Your examples' },
  { id: 'model', title: 'Model', hint: 'What to tune' },
  { id: 'tune', title: 'Tune', hint: 'Teach it' },
  { id: 'chat', title: 'Chat', hint: 'Try it' },
  { id: 'export', title: 'Export', hint: 'Take it with you' },
] as const;
export type StepId = (typeof STEPS)[number]['id'];

/** Where the person was, kept for the page's session (a reload). */
interface Place {
  project: string;
  step: StepId;
  modelPath?: string;
  runId?: string;
}
const PLACE_KEY = 'attune.place';
function readPlace(): Place | undefined {
  try {
    const p = JSON.parse(sessionStorage.getItem(PLACE_KEY) ?? 'null') as Place | null;
    return p && typeof p.project === 'string' && STEPS.some((s) => s.id === p.step) ? p : undefined;
  } catch {
    return undefined;
  }
}

function applyTheme(theme: Theme) {
  if (theme === 'system') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
}

export function App() {
  const [info, setInfo] = useState<AppInfo>();
  const [error, setError] = useState<string>();
  const [state, setState] = useState<WizardState>();
  const [step, setStep] = useState<StepId>('data');
  const headingRef = useRef<HTMLHeadingElement>(null);

  /** Opens a project where the person was: on a live run's Tune step, else the saved step, else Data or Model. */
  const openProject = async (project: ProjectSummary, saved?: Place) => {
    const runs = await attune.tune.runs({ project: project.name }).catch(() => []);
    const live = runs.find((r) => ['running', 'pausing', 'cancelling', 'queued'].includes(r.state));
    setState({ project, ...(live ? { runId: live.runId, modelPath: live.modelPath } : { runId: saved?.runId, modelPath: saved?.modelPath }) });
    go(live ? 'tune' : (saved?.step ?? (project.data ? 'model' : 'data')));
  };

  // A reload (or a crash of the page) comes back to the same project and step.
  useEffect(() => {
    const saved = readPlace();
    if (saved) void attune.projects.open({ name: saved.project }).then((p) => openProject(p, saved), () => sessionStorage.removeItem(PLACE_KEY));
  }, []);
  useEffect(() => {
    if (state) sessionStorage.setItem(PLACE_KEY, JSON.stringify({ project: state.project.name, step, modelPath: state.modelPath, runId: state.runId } satisfies Place));
    else sessionStorage.removeItem(PLACE_KEY);
  }, [state, step]);

  useEffect(() => {
    attune.app
      .info({})
      .then((i) => {
        setInfo(i);
        applyTheme(i.settings.theme);
      })
      .catch((e) => setError(errorText(e)));
  }, []);

  const update = useCallback((patch: Partial<WizardState>) => {
    setState((s) => (s ? { ...s, ...patch } : s));
    // A warning's link to an example opens the Data step's list there.
    if (patch.showExample) setStep('data');
  }, []);
  const focusHeading = useRef(false);
  const go = useCallback((id: StepId) => {
    setStep(id);
    // Move focus to the new step's heading once it is drawn, so screen readers announce it.
    focusHeading.current = true;
  }, []);
  useEffect(() => {
    if (focusHeading.current && headingRef.current) {
      focusHeading.current = false;
      headingRef.current.focus();
    }
  });
  const index = STEPS.findIndex((s) => s.id === step);
  const next = useCallback(() => go(STEPS[Math.min(index + 1, STEPS.length - 1)]!.id), [go, index]);

  const setTheme = async (theme: Theme) => {
    applyTheme(theme);
    const s = await attune.settings.update({ theme });
    setInfo((i) => (i ? { ...i, settings: s } : i));
  };

  /** Up/Down (and Home/End) move focus between the step buttons; Enter or Space opens the step. */
  const onNavKey = (e: React.KeyboardEvent) => {
    const ids = STEPS.map((s) => `step-tab-${s.id}`);
    const at = ids.indexOf((e.target as HTMLElement).id);
    if (at < 0) return;
    const to = e.key === 'ArrowDown' ? (at + 1) % ids.length : e.key === 'ArrowUp' ? (at + ids.length - 1) % ids.length : e.key === 'Home' ? 0 : e.key === 'End' ? ids.length - 1 : -1;
    if (to < 0) return;
    e.preventDefault();
    document.getElementById(ids[to]!)?.focus();
  };

  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to the current step
      </a>
      <header className="topbar">
        <div className="brand" aria-label="Attune">
          Attune
        </div>
        {state && (
          <div className="project-name">
            Project: <strong>{state.project.name}</strong>{' '}
            <button type="button" className="link" onClick={() => setState(undefined)}>
              Switch project
            </button>
          </div>
        )}
        <label className="theme">
          Theme{' '}
          <select value={info?.settings.theme ?? 'system'} onChange={(e) => void setTheme(e.target.value as Theme)}>
            <option value="system">Same as the system</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
        </label>
      </header>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {!state ? (
        <main id="main" className="content">
          <FirstRun
            onOpen={(project, at) => {
              setState({ project });
              setStep(at);
            }}
            onSettings={(settings) => setInfo((i) => (i ? { ...i, settings } : i))}
          >
            <ProjectPicker
              info={info}
              onOpen={(project) => void openProject(project)}
            />
          </FirstRun>
        </main>
      ) : (
        <div className="wizard">
          <nav aria-label="Steps" className="steps" onKeyDown={onNavKey}>
            <ol>
              {STEPS.map((s, i) => (
                <li key={s.id}>
                  <button
                    id={`step-tab-${s.id}`}
                    type="button"
                    aria-current={s.id === step ? 'step' : undefined}
                    className={s.id === step ? 'current' : ''}
                    onClick={() => go(s.id)}
                  >
                    <span className="num" aria-hidden="true">
                      {i + 1}
                    </span>
                    <span>
                      {s.title}
                      <small>{s.hint}</small>
                    </span>
                  </button>
                </li>
              ))}
            </ol>
          </nav>
          <main id="main" className="content" aria-labelledby="step-heading">
            <h1 id="step-heading" ref={headingRef} tabIndex={-1}>
              Step {index + 1} of {STEPS.length}: {STEPS[index]!.title}
            </h1>
            {step === 'data' && <DataStep state={state} update={update} next={next} />}
            {step === 'model' && <ModelStep state={state} update={update} next={next} machine={info?.machine} />}
            {step === 'tune' && <TuneStep state={state} update={update} next={next} />}
            {step === 'chat' && <ChatStep state={state} update={update} next={next} />}
            {step === 'export' && <ExportStep state={state} update={update} next={next} />}
          </main>
        </div>
      )}
    </div>
  );
}
