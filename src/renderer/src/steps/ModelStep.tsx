/** Step 2: the models in the workspace and those added from a folder or GGUF file; what fits this machine. */
import { PassEstimate } from './tune/PassEstimate.js';
import { useEffect, useState } from 'react';
import type { AppInfo, DeviceInfo, ModelInfo } from '../../../shared/contract.js';
import { attune, errorText } from '../api.js';
import { formatBytes, formatCount } from '../format.js';
import { untrainedTokensText } from '../explain.js';
import type { StepProps } from './types.js';
import { ModelCatalog } from '../models/ModelCatalog.js';

const VERDICT = { fits: 'Fits this computer', tight: 'Tight on this computer', 'too-big': 'Too big for this computer' } as const;

export function ModelStep({ state, update, next, machine }: StepProps & { machine?: AppInfo['machine'] }) {
  const [models, setModels] = useState<ModelInfo[]>();
  const [devices, setDevices] = useState<DeviceInfo>();
  const [error, setError] = useState<string>();

  const load = async () => {
    try {
      const list = await attune.models.list({});
      setModels(list);
      if (!state.modelPath) {
        const first = list.find((m) => !m.problem && m.fit?.verdict !== 'too-big');
        if (first) update({ modelPath: first.path });
      }
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => {
    void load();
    attune.models
      .devices({})
      .then(setDevices)
      .catch(() => undefined);
  }, []);

  const add = async (kind: 'folder' | 'gguf') => {
    setError(undefined);
    try {
      const m = await attune.models.add({ kind });
      if (m) {
        await load();
        if (!m.problem) update({ modelPath: m.path });
      }
    } catch (e) {
      setError(errorText(e));
    }
  };

  /** Forgets a model the person added (also one Attune cannot read); its files stay where they are. */
  const remove = async (m: ModelInfo) => {
    setError(undefined);
    try {
      await attune.models.remove({ path: m.path });
      if (state.modelPath === m.path) update({ modelPath: undefined });
      await load();
      // Focus goes to the list's buttons, not the page.
      requestAnimationFrame(() => document.querySelector<HTMLElement>('input[name="model"]:not([disabled]), .step .row button')?.focus());
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <div className="step">
      <p className="lead">
        Choose the model to tune. Smaller models learn faster and run on more computers; larger ones write better answers.
        {machine && ` This computer has ${formatBytes(machine.totalMemoryBytes)} of memory.`}
      </p>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {!models ? (
        <p aria-live="polite">Looking for models…</p>
      ) : models.length === 0 ? (
        <p>No models on this computer yet: download a recommended one below, or add a model folder or GGUF file from disk.</p>
      ) : (
        <fieldset className="models">
          <legend>On this computer</legend>
          {models.map((m) => (
            <label key={m.path} className={`model card ${state.modelPath === m.path ? 'selected' : ''}`}>
              <input
                type="radio"
                name="model"
                value={m.path}
                checked={state.modelPath === m.path}
                disabled={!!m.problem}
                onChange={() => update({ modelPath: m.path })}
              />
              <span className="model-body">
                <strong className="model-name">{m.name}</strong>
                {m.problem ? (
                  <span className="error">{m.problem}</span>
                ) : (
                  <dl className="facts">
                    <dt>Size</dt>
                    <dd>
                      {formatCount(m.parameters)} parameters{m.fileBytes !== undefined && `, ${formatBytes(m.fileBytes)} on disk`}
                    </dd>
                    <dt>Kind</dt>
                    <dd>
                      {m.architecture ?? 'unknown'}
                      {m.dtype ? `, ${m.dtype}` : ''}
                    </dd>
                    <dt>Reads up to</dt>
                    <dd>{m.contextLength ? `${m.contextLength} tokens` : 'unknown'}</dd>
                    <dt>Chat template</dt>
                    <dd>{m.hasChatTemplate ? 'Yes, its own' : 'No: Attune will use a standard one'}</dd>
                    <dt>Memory to tune</dt>
                    <dd>
                      {m.fit ? (
                        <>
                          <span className={`badge ${m.fit.verdict}`}>{VERDICT[m.fit.verdict]}</span> {m.fit.explanation}
                        </>
                      ) : (
                        'unknown'
                      )}
                    </dd>
                  </dl>
                )}
                {!m.problem && m.untrainedTokens && m.untrainedTokens.length > 0 && (
                  <span className="note" data-testid="untrained-note">
                    {untrainedTokensText(m.untrainedTokens, m.stopTokens)}
                  </span>
                )}
                <span className="muted path">{m.path}</span>
              </span>
              {m.origin === 'added' && (
                <button type="button" className="remove-model" onClick={() => void remove(m)}>
                  Remove {m.name} from this list
                </button>
              )}
            </label>
          ))}
        </fieldset>
      )}
      <ModelCatalog
        onDownloaded={(dir) => {
          void load().then(() => update({ modelPath: dir }));
        }}
      />
      <h3>Add from disk</h3>
      <div className="row">
        <button type="button" onClick={() => void add('folder')}>
          Add a model folder…
        </button>
        <button type="button" onClick={() => void add('gguf')}>
          Add a GGUF file…
        </button>
      </div>
      {devices && (
        <p className="muted" data-testid="device-line">
          Work will run on: <strong>{devices.available.find((d) => d.device === devices.chosen)?.label ?? devices.chosen}</strong>, because {devices.why}.
        </p>
      )}
      {state.project.data && <PassEstimate project={state.project.name} modelPath={state.modelPath} preset="quick" advanced={{}} />}
      <div className="nav-buttons">
        <button type="button" className="primary" onClick={next} disabled={!state.modelPath}>
          Next: tune
        </button>
      </div>
    </div>
  );
}
