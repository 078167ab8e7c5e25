/** Start or open a project. */
import { useEffect, useState } from 'react';
import { projectName, type AppInfo, type ProjectSummary } from '../../shared/contract.js';
import { fieldProblem } from '../../shared/field-messages.js';
import { attune, errorText } from './api.js';
import { plural } from './format.js';

export function ProjectPicker({ info, onOpen }: { info?: AppInfo; onOpen: (p: ProjectSummary) => void }) {
  const [projects, setProjects] = useState<ProjectSummary[]>();
  const [name, setName] = useState('');
  const [error, setError] = useState<string>();
  /** The projects folder after the person changed it here. */
  const [folder, setFolder] = useState<string>();
  // Checked as the person types, with the rule (and words) the main process uses; an empty field is not scolded.
  const nameProblem = name === '' ? undefined : fieldProblem(projectName, name);

  useEffect(() => {
    attune.projects
      .list({})
      .then(setProjects)
      .catch((e) => setError(errorText(e)));
  }, [info?.settings.workspace, folder]);

  const changeFolder = async () => {
    try {
      const s = await attune.settings.chooseWorkspace({});
      if (s) setFolder(s.workspace);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(undefined);
    if (nameProblem) return;
    try {
      onOpen(await attune.projects.create({ name }));
    } catch (err) {
      setError(errorText(err));
    }
  };
  const open = async (n: string) => {
    try {
      onOpen(await attune.projects.open({ name: n }));
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <section aria-labelledby="welcome">
      <h1 id="welcome">Teach a small language model to answer like you</h1>
      <p className="lead">
        Attune works on this computer only. You give it examples of questions and the answers you want; it tunes a model on them, lets you compare
        it with the original, and saves it for other programs.
      </p>
      <form onSubmit={create} className="card">
        <h2>Start a new project</h2>
        <label htmlFor="project-name">Project name</label>
        <div className="row">
          <input
            id="project-name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="For example: Support answers"
            required
            aria-invalid={nameProblem ? true : undefined}
            aria-describedby={nameProblem ? 'project-name-problem' : undefined}
          />
          <button type="submit" className="primary" disabled={!!nameProblem}>
            Create project
          </button>
        </div>
        {nameProblem && (
          <span id="project-name-problem" className="field-problem error" data-testid="project-name-problem">
            {nameProblem}
          </span>
        )}
      </form>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <section className="card" aria-labelledby="recent">
        <h2 id="recent">Your projects</h2>
        {!projects ? (
          <p>Looking in your workspace…</p>
        ) : projects.length === 0 ? (
          <p>No projects yet. Create one above.</p>
        ) : (
          <ul className="plain">
            {projects.map((p) => (
              <li key={p.name}>
                <button type="button" onClick={() => void open(p.name)}>
                  Open “{p.name}”
                </button>{' '}
                <span className="muted">
                  {p.data ? `${plural(p.data.train + p.data.val, 'example')}` : 'no examples yet'}, {plural(p.runs, 'training run')}
                </span>
              </li>
            ))}
          </ul>
        )}
        {info && (
          <p className="muted">
            Projects folder: <span data-testid="projects-folder">{folder ?? info.settings.workspace}</span>{' '}
            <button type="button" className="link" onClick={() => void changeFolder()}>
              Change…
            </button>
          </p>
        )}
      </section>
    </section>
  );
}
