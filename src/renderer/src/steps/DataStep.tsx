/** Step 1: add a file (drop, pick, or the sample), read the report, fix rows, split, look at examples. */
import { useEffect, useRef, useState } from 'react';
import type { DataProblem, DataReport, Example, ExamplesPage, ImportResult, RowField, RunSummary, StagedFile } from '../../../shared/contract.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { runTitle } from '../runs.js';
import { attune, errorText } from '../api.js';
import { plural } from '../format.js';
import { LengthSummary } from '../components/LengthSummary.js';
import { PassEstimate } from './tune/PassEstimate.js';
import { PRESETS } from '../../../shared/presets.js';
import type { ExamplePlace } from '../../../shared/engine-results.js';
import type { StepProps } from './types.js';

const MAX_DROP_BYTES = 20 * 1024 * 1024;

/** Focus an element once React has drawn it. */
const focusSoon = (id: string) => requestAnimationFrame(() => requestAnimationFrame(() => document.getElementById(id)?.focus()));

async function toBase64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function DataStep({ state, update, next }: StepProps) {
  const project = state.project.name;
  const [staged, setStaged] = useState<StagedFile>();
  const [report, setReport] = useState<DataReport>();
  const [busy, setBusy] = useState<string>();
  const [progress, setProgress] = useState<number>();
  const [error, setError] = useState<string>();
  const [valPercent, setValPercent] = useState(10);
  const [dropNear, setDropNear] = useState(false);
  const [imported, setImported] = useState<ImportResult>();
  const [dragging, setDragging] = useState(false);
  /** Rows were fixed after the import: the project still holds what was imported before. */
  const [importStale, setImportStale] = useState(false);
  /** Edits made in the example list (the length count follows them). */
  const [edits, setEdits] = useState(0);
  /** The running tune that uses the examples an import would replace, while the person is asked. */
  const [confirmReplace, setConfirmReplace] = useState<RunSummary>();

  useEffect(() => attune.data.onProgress((p) => p.project === project && setProgress(p.rowsRead)), [project]);

  const run = async <T,>(label: string, f: () => Promise<T>): Promise<T | undefined> => {
    setBusy(label);
    setError(undefined);
    setProgress(undefined);
    try {
      return await f();
    } catch (e) {
      setError(errorText(e));
      return undefined;
    } finally {
      setBusy(undefined);
    }
  };

  const stageAndCheck = async (from: Parameters<typeof attune.data.add>[0]['from']) => {
    const s = await run('Copying your file into the project…', () => attune.data.add({ project, from }));
    if (!s) return;
    setStaged(s);
    setImported(undefined);
    const r = await run('Reading your examples…', () => attune.data.check({ project, source: s.source }));
    if (r) setReport(r);
    // Focus goes to what the action produced: the report.
    focusSoon('report-h');
  };

  const onDrop = async (e: React.DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const file = e.dataTransfer.files[0];
    if (!file) return;
    if (file.size > MAX_DROP_BYTES) {
      setError('That file is larger than 20 MB. Use “Choose a file…” instead.');
      return;
    }
    await stageAndCheck({ kind: 'bytes', name: file.name, base64: await toBase64(file) });
  };

  /** A fixed row: the new report; an import made before it no longer holds the file as it is now. */
  const afterFix = (r: DataReport) => {
    setReport(r);
    if (imported) setImportStale(true);
    focusSoon('report-h');
  };

  const doImport = async (replaceWhileTuning = false) => {
    if (!staged) return;
    setConfirmReplace(undefined);
    // A tune of this project is running: the person confirms first (the run keeps its own copy of the examples).
    if (!replaceWhileTuning) {
      const live = (await attune.tune.runs({ project }).catch(() => [])).find((x) => x.jobId);
      if (live) return setConfirmReplace(live);
    }
    const r = await run('Importing and splitting your examples…', () =>
      attune.data.import({ project, source: staged.source, valFraction: valPercent / 100, seed: 42, dropNearDuplicates: dropNear, replaceWhileTuning }),
    );
    if (r) {
      setImported(r);
      setImportStale(false);
      setReport(r.report);
      update({ project: { ...state.project, data: { train: r.train, val: r.val, source: staged.source } } });
      focusSoon('imported-status');
    }
  };

  return (
    <div className="step">
      <p className="lead">
        Give Attune examples of what people ask and how you answer. A spreadsheet, CSV, JSON or JSONL file works. Your file is copied into the
        project and never changed.
      </p>

      <div
        className={`dropzone ${dragging ? 'dragging' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(e) => void onDrop(e)}
        aria-label="Drop a file with your examples here"
        role="region"
      >
        <p>Drop a file here, or</p>
        <div className="row">
          <button type="button" className="primary" onClick={() => void stageAndCheck({ kind: 'dialog' })} disabled={!!busy}>
            Choose a file…
          </button>
          <button type="button" onClick={() => void stageAndCheck({ kind: 'sample' })} disabled={!!busy}>
            Use the sample (customer service)
          </button>
        </div>
      </div>

      <div aria-live="polite" className="status">
        {busy && (
          <p>
            {busy}
            {progress !== undefined && ` ${plural(progress, 'row')} read so far.`}
          </p>
        )}
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {!staged && state.project.data && (
        <p>
          This project already has {plural(state.project.data.train, 'training example')} and {plural(state.project.data.val, 'held-out example')} from
          “{state.project.data.source}”. Add a file to replace them, or go on.
        </p>
      )}

      {report && staged && (
        <Report
          report={report}
          modelChosen={!!state.modelPath}
          // After an import (of the file as it is now), a warning's row opens in the example list.
          onShowRow={
            imported && !importStale
              ? async (row) => {
                  const where = await attune.data.locateRow({ project, row }).catch(() => null);
                  if (where) update({ showExample: where });
                  else setError(`Row ${row} is not among the imported examples.`);
                }
              : undefined
          }
          onFix={async (p, text) => {
            const r = await run('Checking your change…', () => attune.data.fixRow({ project, source: staged.source, line: p.line!, text }));
            if (r) afterFix(r);
          }}
          onFixFields={async (p, fields) => {
            const r = await run('Checking your change…', () => attune.data.fixRowFields({ project, source: staged.source, line: p.line!, fields }));
            if (r) afterFix(r);
          }}
        />
      )}

      {report && staged && report.accepted > 0 && (
        <section className="card" aria-labelledby="split-h">
          <h2 id="split-h">Keep some examples aside</h2>
          <p>
            Attune holds back a share of your examples that the model never learns from. It uses them to check that the model learned to answer, not
            just to repeat.
          </p>
          <label htmlFor="val-share">Held-out share: {valPercent}%</label>
          <input id="val-share" type="range" min={0} max={30} step={1} value={valPercent} onChange={(e) => setValPercent(Number(e.target.value))} />
          <label>
            <input type="checkbox" checked={dropNear} onChange={(e) => setDropNear(e.target.checked)} /> Leave out near duplicates (examples almost the same as
            an earlier one; by default they are kept, because rewording a question on purpose helps)
          </label>
          <div className="row">
            <button type="button" id="import-button" className="primary" onClick={() => void doImport()} disabled={!!busy}>
              Import {plural(report.accepted, 'example')}
              {importStale ? ' again' : ''}
            </button>
          </div>
          {confirmReplace && (
            <ConfirmDialog
              id="replace-data"
              title="Replace the examples while a tune is running?"
              returnTo={() => document.getElementById('import-button')}
              choices={[
                { label: 'Replace them', onChoose: () => void doImport(true) },
                { label: 'Keep the current examples', primary: true, onChoose: () => setConfirmReplace(undefined) },
              ]}
            >
              <p>
                The {runTitle(confirmReplace)} is still learning from this project's examples. It keeps its own copy and goes on with the examples it started with;
                Chat and Export will use that run with those examples. The Data and Tune steps show the new ones from now on.
              </p>
            </ConfirmDialog>
          )}
          {imported && !importStale && (
            <p role="status" className="ok" id="imported-status" tabIndex={-1}>
              Imported: {plural(imported.train, 'example')} to learn from and {plural(imported.val, 'example')} held out.
            </p>
          )}
          {imported && importStale && (
            <p role="status" className="warning" id="import-stale" data-testid="import-stale" tabIndex={-1}>
              You fixed rows after importing: the project still has the {plural(imported.train + imported.val, 'example')} imported before. Import again to use
              the file as it is now.
            </p>
          )}
        </section>
      )}

      {state.modelPath && state.project.data && (imported || !staged) && (
        <section className="card" aria-labelledby="fit-h">
          <h2 id="fit-h">Your examples and the chosen model</h2>
          <LengthSummary
            project={project}
            modelPath={state.modelPath}
            maxLength={state.maxLength ?? PRESETS.quick.values.maxLength}
            version={`${state.project.data.train}/${state.project.data.val}/${edits}`}
            onShow={(w) => update({ showExample: w })}
          />
          <PassEstimate project={project} modelPath={state.modelPath} preset="quick" advanced={{}} />
        </section>
      )}

      {(imported || (!staged && state.project.data)) && <ExamplesEditor
          project={project}
          key={imported ? `i${imported.train}` : 'existing'}
          show={state.showExample}
          onShown={() => update({ showExample: undefined })}
          // The counts the other steps show follow every edit (Tune's "With N examples").
          onChanged={() => {
            setEdits((n) => n + 1);
            void attune.projects.open({ name: project }).then((p) => update({ project: p }), () => undefined);
          }}
        />}

      <div className="nav-buttons">
        <button type="button" className="primary" onClick={next} disabled={!state.project.data}>
          Next: choose a model
        </button>
      </div>
    </div>
  );
}

function Report({
  report,
  onFix,
  onFixFields,
  modelChosen,
  onShowRow,
}: {
  report: DataReport;
  onFix: (p: DataProblem, text: string) => Promise<void>;
  onFixFields: (p: DataProblem, fields: RowField[]) => Promise<void>;
  modelChosen: boolean;
  onShowRow?: (row: number) => void;
}) {
  const leftOut = report.problems.filter((p) => p.rejected);
  const warnings = report.problems.filter((p) => !p.rejected);
  // A file that could not be read: what it is and what to add instead; nothing to count or fix.
  if (report.fatal)
    return (
      <section className="card" aria-labelledby="report-h">
        <h2 id="report-h" tabIndex={-1}>
          What Attune found in “{report.source}”
        </h2>
        <p className="error" data-testid="report-fatal">
          {report.problems.find((p) => p.severity === 'fatal')?.message ?? 'Attune could not read this file.'}
        </p>
      </section>
    );
  return (
    <section className="card" aria-labelledby="report-h">
      <h2 id="report-h" tabIndex={-1}>
        What Attune found in “{report.source}”</h2>
      <p className="summary" data-testid="report-summary">
        Read {plural(report.rowsRead, 'row')}: {report.accepted} ready to use
        {report.rejected > 0 ? `, ${report.rejected} left out` : ''}
        {report.duplicates > 0 ? ` (${plural(report.duplicates, 'duplicate')} among them)` : ''}
        {warnings.length > 0 ? `, ${plural(warnings.length, 'warning')}` : ''}.
      </p>
      {report.tokens && !modelChosen && (
        <p className="muted" data-testid="report-tokens">
          The longest example is {report.tokens.estimated ? 'about ' : ''}
          {plural(report.tokens.longest, 'token')}
          {report.tokens.estimated ? " (a rough count: once you choose a model, its tokenizer counts them exactly, here and in the Tune step)" : ''}. How long tuning
          takes is measured on this computer once you choose a model.
        </p>
      )}
      {report.problems.length > 0 ? (
        <table className="problems">
          <caption>
            {leftOut.length > 0 ? 'Rows that were left out, and warnings. Fix a row here and Attune checks it again.' : 'Warnings (these rows are still used).'}
          </caption>
          <thead>
            <tr>
              <th scope="col">Row</th>
              <th scope="col">Kind</th>
              <th scope="col">Problem</th>
              <th scope="col">Fix it</th>
            </tr>
          </thead>
          <tbody>
            {report.problems.slice(0, 200).map((p, i) => (
              <ProblemRow key={`${p.line}-${p.code}-${i}`} problem={p} onFix={onFix} onFixFields={onFixFields} onShowRow={onShowRow} />
            ))}
          </tbody>
        </table>
      ) : (
        <p className="ok">No problems found.</p>
      )}
    </section>
  );
}

function ProblemRow({
  problem,
  onFix,
  onFixFields,
  onShowRow,
}: {
  problem: DataProblem;
  onFix: (p: DataProblem, text: string) => Promise<void>;
  onFixFields: (p: DataProblem, fields: RowField[]) => Promise<void>;
  onShowRow?: (row: number) => void;
}) {
  const [text, setText] = useState(problem.rowText ?? '');
  const [fields, setFields] = useState(problem.rowFields);
  const id = `fix-${problem.line}-${problem.code}`;
  const changed = fields?.some((f, i) => f.value !== problem.rowFields![i]!.value);
  return (
    <tr className={problem.rejected ? 'error' : 'warning'}>
      <td>{problem.line ? problem.line : 'whole file'}</td>
      <td>{problem.rejected ? 'Left out' : 'Warning'}</td>
      <td>
        {problem.message}
        {problem.field && <span className="muted"> (in “{problem.field}”)</span>}
      </td>
      <td>
        {!problem.rejected && problem.line && onShowRow ? (
          // A warning about a row that was imported: open that example in the list below.
          <button type="button" className="link" onClick={() => onShowRow(problem.line!)}>
            Show row {problem.line} in your examples
          </button>
        ) : fields && problem.line ? (
          // The row as its fields, by the names in the person's file.
          <form
            className="fix fields"
            aria-label={`Fix row ${problem.line}`}
            onSubmit={(e) => {
              e.preventDefault();
              if (changed) void onFixFields(problem, fields);
            }}
          >
            {fields.map((f, i) => (
              <div key={f.name} className="field">
                <label htmlFor={`${id}-${i}`}>
                  Row {problem.line}: {f.name}
                </label>
                <textarea
                  id={`${id}-${i}`}
                  rows={f.value.length > 80 ? 3 : 1}
                  value={f.value}
                  aria-invalid={f.needed && !f.value.trim() ? true : undefined}
                  aria-describedby={f.needed && !f.value.trim() ? `${id}-${i}-problem` : undefined}
                  onChange={(e) => setFields(fields.map((x, k) => (k === i ? { ...x, value: e.target.value } : x)))}
                />
                {f.needed && !f.value.trim() && (
                  <span id={`${id}-${i}-problem`} className="field-problem error">
                    Write the {f.name} here: every example needs one.
                  </span>
                )}
              </div>
            ))}
            <button type="submit" disabled={!changed}>
              Save row {problem.line}
            </button>
          </form>
        ) : problem.rowText !== undefined && problem.line ? (
          <div className="fix">
            <label className="sr-only" htmlFor={id}>
              Row {problem.line} text
            </label>
            <input id={id} value={text} onChange={(e) => setText(e.target.value)} />
            <button type="button" onClick={() => void onFix(problem, text)} disabled={text === problem.rowText}>
              Save row {problem.line}
            </button>
          </div>
        ) : (
          <span className="muted">—</span>
        )}
      </td>
    </tr>
  );
}

const PAGE = 5;

function ExamplesEditor({ project, onChanged, show, onShown }: { project: string; onChanged: () => void; show?: ExamplePlace; onShown: () => void }) {
  const [split, setSplit] = useState<'train' | 'val'>(show?.split ?? 'train');
  const [query, setQuery] = useState('');
  /** The example a warning pointed to, marked in the list. */
  const [marked, setMarked] = useState<ExamplePlace>();
  /** The example removed last, until it is put back or another change is made. */
  const [removed, setRemoved] = useState<{ n: number }>();
  const [page, setPage] = useState<ExamplesPage>();
  const [offset, setOffset] = useState(show ? Math.floor((show.number - 1) / PAGE) * PAGE : 0);
  const [editing, setEditing] = useState<number>();
  const [error, setError] = useState<string>();

  /** The search the shown page answers (the box may already hold the next one). */
  const [pageQuery, setPageQuery] = useState('');
  const latest = useRef(0);
  const load = async (o = offset, s = split, q = query) => {
    const ask = ++latest.current;
    try {
      const p = await attune.data.examples({ project, split: s, offset: o, limit: PAGE, ...(q.trim() ? { query: q } : {}) });
      // Only the answer to the latest request is shown (typing sends one per key).
      if (ask !== latest.current) return;
      setPage(p);
      setPageQuery(q.trim());
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => void load(offset, split, query), [offset, split, query]);
  // A warning's link: open its list at its page, mark it and move focus to it.
  useEffect(() => {
    if (!show) return;
    setQuery('');
    setSplit(show.split);
    setOffset(Math.floor((show.number - 1) / PAGE) * PAGE);
    setMarked(show);
    onShown();
  }, [show]);
  useEffect(() => {
    if (!marked || marked.split !== split || !page?.examples.some((e) => e.number === marked.number)) return;
    const id = `example-${marked.split}-${marked.number}`;
    requestAnimationFrame(() => requestAnimationFrame(() => document.getElementById(id)?.focus()));
  }, [marked, page]);

  const save = async (index: number, ex: Example | null) => {
    setError(undefined);
    try {
      await attune.data.saveExample({ project, split, index, example: ex });
      setEditing(undefined);
      setRemoved(ex ? undefined : { n: index + 1 });
      await load();
      onChanged();
      // Focus goes to what the change produced: the Undo offer, or the saved example's Edit button.
      requestAnimationFrame(() => document.getElementById(ex ? `edit-example-${index + 1}` : 'undo-remove')?.focus());
    } catch (e) {
      setError(errorText(e));
    }
  };
  const undo = async () => {
    setError(undefined);
    try {
      await attune.data.undoRemove({ project });
      const n = removed?.n;
      setRemoved(undefined);
      await load();
      onChanged();
      requestAnimationFrame(() => document.getElementById(`edit-example-${n}`)?.focus());
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <section className="card" aria-labelledby="examples-h">
      <h2 id="examples-h">Your examples</h2>
      <div className="row" role="group" aria-label="Which examples">
        <button type="button" aria-pressed={split === 'train'} onClick={() => (setSplit('train'), setOffset(0), setMarked(undefined))}>
          To learn from
        </button>
        <button type="button" aria-pressed={split === 'val'} onClick={() => (setSplit('val'), setOffset(0), setMarked(undefined))}>
          Held out
        </button>
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {removed && (
        <p role="status" className="row" data-testid="removed-status">
          Example {removed.n} was removed.{' '}
          <button type="button" id="undo-remove" onClick={() => void undo()}>
            Undo: put example {removed.n} back
          </button>
        </p>
      )}
      <div className="field">
        <label htmlFor="example-search">Search your examples</label>
        <input
          id="example-search"
          type="search"
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            setOffset(0);
          }}
        />
      </div>
      {page && (
        <>
          <p className="muted" data-testid="examples-showing">
            {pageQuery
              ? page.total === 0
                ? `No example contains “${pageQuery}”.`
                : `${plural(page.total, 'example')} ${page.total === 1 ? 'contains' : 'contain'} “${pageQuery}”; showing ${page.offset + 1}–${Math.min(page.offset + PAGE, page.total)}.`
              : `Showing ${page.total === 0 ? 0 : offset + 1}–${Math.min(offset + PAGE, page.total)} of ${page.total}.`}
          </p>
          <ol className="examples">
            {page.examples.map((ex, i) => {
              const n = ex.number ?? offset + i + 1;
              const isMarked = marked?.split === split && marked.number === n;
              return editing === n - 1 ? (
                <li key={n} value={n}>
                  <ExampleForm example={ex} onSave={(e) => void save(n - 1, e)} onCancel={() => setEditing(undefined)} />
                </li>
              ) : (
                <li key={n} value={n} id={`example-${split}-${n}`} tabIndex={-1} className={isMarked ? 'marked' : undefined} aria-current={isMarked ? true : undefined}>
                  {ex.row !== undefined && (
                    <p className="muted example-row" data-testid={`example-row-${n}`}>
                      Example {n}, from row {ex.row} of your file
                    </p>
                  )}
                  {ex.messages.map((m, j) => (
                    <p key={j} className={`msg ${m.role}`}>
                      <strong>{m.role === 'user' ? 'Question' : m.role === 'assistant' ? 'Answer' : 'Instructions'}:</strong> {m.content}
                    </p>
                  ))}
                  <div className="row">
                    <button type="button" id={`edit-example-${n}`} onClick={() => setEditing(n - 1)}>
                      Edit example {n}
                    </button>
                    <button type="button" onClick={() => void save(n - 1, null)}>
                      Remove example {n}
                    </button>
                  </div>
                </li>
              );
            })}
          </ol>
          <div className="row">
            <button type="button" onClick={() => setOffset(Math.max(0, offset - PAGE))} disabled={offset === 0}>
              Previous
            </button>
            <button type="button" onClick={() => setOffset(offset + PAGE)} disabled={offset + PAGE >= page.total}>
              Next examples
            </button>
          </div>
        </>
      )}
    </section>
  );
}

const ROLE_WORD = { user: 'Question', assistant: 'Answer', system: 'Instructions' } as const;

/** An example's messages as fields; an empty one is pointed out as it is typed (the importer would refuse it), and Save waits. */
function ExampleForm({ example, onSave, onCancel }: { example: Example; onSave: (e: Example) => void; onCancel: () => void }) {
  const [messages, setMessages] = useState(example.messages);
  const empty = messages.map((m) => m.content.trim() === '');
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        if (!empty.some(Boolean)) onSave({ messages });
      }}
    >
      {messages.map((m, j) => (
        <div key={j} className="field">
          <label htmlFor={`msg-${j}`}>{ROLE_WORD[m.role]}</label>
          <textarea
            id={`msg-${j}`}
            value={m.content}
            rows={3}
            aria-invalid={empty[j] ? true : undefined}
            aria-describedby={empty[j] ? `msg-${j}-problem` : undefined}
            onChange={(e) => setMessages(messages.map((x, k) => (k === j ? { ...x, content: e.target.value } : x)))}
          />
          {empty[j] && (
            <span id={`msg-${j}-problem`} className="field-problem error" data-testid={`msg-${j}-problem`}>
              Write the {ROLE_WORD[m.role].toLowerCase()}: an example with an empty {ROLE_WORD[m.role].toLowerCase()} cannot teach anything. To drop it, cancel and remove the example.
            </span>
          )}
        </div>
      ))}
      <div className="row">
        <button type="submit" className="primary" disabled={empty.some(Boolean)}>
          Save
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
