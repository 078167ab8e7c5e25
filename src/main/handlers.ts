/**
 * One plain function per contract call. No Electron import: the app wires these to IPC
 * (ipc.ts), the tests call them directly, and the end-to-end transport serves them over HTTP.
 * Requests arrive already validated by the contract's zod schemas (dispatch.ts).
 */
import { copyFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CallName, EventName, ModelInfo, Payload, ProjectSummary, Req, Res, ReviewReport, RunSummary, ServerInfo, Settings, TuneEvent } from '../shared/contract.js';
import { AttuneError } from '../shared/errors.js';
import { estimateSteps, EXPORT_CHOICES, PRESETS, resolveEvalEvery } from '../shared/presets.js';
import type { ChatHandle, EngineFacade, TuneJobSpec } from './engine.js';
import type { JobManager } from './jobs/manager.js';
import type { JobExit } from './jobs/protocol.js';
import { RunStore, summarize, type RunRecord } from './runs.js';
import { addModel, touchRecent, type SettingsStore } from './settings.js';
import { exists, newId, safeSegment, Workspace, writeFileAtomic } from './workspace.js';
import { removeAddedModel } from './services/added-models.js';
import { checkEditedExample, RemovedExamples } from './services/example-edits.js';

/** File and folder dialogs live in main; the page never names a path on its own. */
export interface Dialogs {
  openFile(opts: { title: string; filters: { name: string; extensions: string[] }[] }): Promise<string | null>;
  openFolder(opts: { title: string }): Promise<string | null>;
  reveal(p: string): Promise<void>;
}

export type Emit = <K extends EventName>(name: K, payload: Payload<K>) => void;

export interface HandlerDeps {
  engine: EngineFacade;
  settings: SettingsStore;
  jobs: JobManager;
  dialogs: Dialogs;
  emit: Emit;
  /** Folder with samples/customer-service.jsonl. */
  resourcesDir: string;
  version: string;
  platform: string;
  machine: () => { totalMemoryBytes: number; freeMemoryBytes: number; cpus: number };
}

export type Handlers = { [K in CallName]: (req: Req<K>) => Promise<Res<K>> };

export const SAMPLE_FILE = 'customer-service.jsonl';
/** The chat template used for models that have none of their own. */
export const FALLBACK_TEMPLATE = 'chatml';
const LINE_BASED = new Set(['.jsonl', '.ndjson', '.csv', '.tsv', '.txt']);
const DATA_EXTENSIONS = ['jsonl', 'ndjson', 'json', 'csv', 'tsv', 'txt', 'xlsx'];
const GB = 1024 ** 3;

export function fitFor(tuningBytes: number | undefined, totalMemoryBytes: number): ModelInfo['fit'] {
  if (!tuningBytes) return undefined;
  const need = (tuningBytes / GB).toFixed(1);
  const have = (totalMemoryBytes / GB).toFixed(1);
  if (tuningBytes < totalMemoryBytes * 0.5) return { verdict: 'fits', explanation: `Tuning needs about ${need} GB of memory; this computer has ${have} GB.` };
  if (tuningBytes < totalMemoryBytes * 0.85) {
    return { verdict: 'tight', explanation: `Tuning needs about ${need} GB of ${have} GB. Close other programs, or lower “max length” and “batch”.` };
  }
  return { verdict: 'too-big', explanation: `Tuning needs about ${need} GB, more than this computer's ${have} GB. Choose a smaller model.` };
}

export function createHandlers(deps: HandlerDeps): Handlers & { dispose(): Promise<void> } {
  const ws = () => new Workspace(deps.settings.get().workspace);
  const runs = new RunStore(ws);
  const removedExamples = new RemovedExamples<Awaited<ReturnType<EngineFacade['readExamples']>>[number]>();
  const modelCache = new Map<string, { mtimeMs: number; info: Omit<ModelInfo, 'origin'> }>();
  const sessions = new Map<string, { handle: ChatHandle; hasAdapter: boolean; queue: Promise<unknown> }>();
  const streams = new Map<string, AbortController>();
  const runKey = (project: string, runId: string) => `${project}/${runId}`;
  /** Jobs whose process has ended but whose record is still being written: not "left running". */
  const finishing = new Set<string>();
  const isLive = (project: string, runId: string) => !!deps.jobs.get(runKey(project, runId)) || finishing.has(runKey(project, runId));

  // ---- helpers ---------------------------------------------------------------------------

  async function summary(name: string): Promise<ProjectSummary> {
    const rec = await ws().readProject(name);
    const runIds = await ws().listRunIds(name);
    return { name: rec.name, updatedAt: rec.updatedAt, runs: runIds.length, data: rec.data && { train: rec.data.train, val: rec.data.val, source: rec.data.source } };
  }

  function workingFile(project: string, source: string): string {
    return path.join(ws().workingDir(project), safeSegment(source));
  }

  async function requireWorking(project: string, source: string): Promise<string> {
    const f = workingFile(project, source);
    if (!(await exists(f))) throw new AttuneError('data-missing', 'That file is no longer in the project. Add it again.');
    return f;
  }

  /** Copies a file into data/original (kept untouched) and data/working (where fixes go). */
  async function stage(project: string, name: string, write: (dest: string) => Promise<void>) {
    await ws().readProject(project);
    const base = safeSegment(name);
    const ext = path.extname(base);
    const stem = base.slice(0, base.length - ext.length);
    let candidate = base;
    for (let i = 2; await exists(path.join(ws().originalDir(project), candidate)); i++) candidate = `${stem} (${i})${ext}`;
    const original = path.join(ws().originalDir(project), candidate);
    await write(original);
    await copyFile(original, path.join(ws().workingDir(project), candidate));
    return { source: candidate, bytes: (await stat(original)).size };
  }

  async function withRowText(file: string, report: Res<'data.check'>): Promise<Res<'data.check'>> {
    if (!LINE_BASED.has(path.extname(file).toLowerCase()) || !report.problems.some((p) => p.line)) return report;
    const lines = (await readFile(file, 'utf8')).split(/\r?\n/);
    return {
      ...report,
      problems: report.problems.map((p) => (p.line && p.rowText === undefined && lines[p.line - 1] !== undefined ? { ...p, rowText: lines[p.line - 1]!.slice(0, 4000) } : p)),
    };
  }

  async function checkData(req: Req<'data.check'>): Promise<Res<'data.check'>> {
    const file = await requireWorking(req.project, req.source);
    const report = await deps.engine.checkData(file, {
      format: req.format === 'auto' ? undefined : req.format,
      map: req.map,
      maxLength: req.maxLength,
      onProgress: (p) => deps.emit('data.progress', { project: req.project, source: req.source, ...p }),
    });
    return withRowText(file, { ...report, source: req.source });
  }

  async function knownModels(): Promise<Omit<ModelInfo, 'name' | 'fit'>[]> {
    const out: Omit<ModelInfo, 'name' | 'fit'>[] = [];
    const dir = ws().modelsDir;
    try {
      for (const name of await readdir(dir)) {
        const p = path.join(dir, name);
        const s = await stat(p).catch(() => undefined); // follows links: a model may be linked into the workspace
        if (s?.isDirectory() && (await exists(path.join(p, 'config.json')))) out.push({ path: p, kind: 'folder', origin: 'workspace' });
        else if (s?.isFile() && name.toLowerCase().endsWith('.gguf')) out.push({ path: p, kind: 'gguf', origin: 'workspace' });
      }
    } catch {
      /* no models folder yet */
    }
    for (const m of deps.settings.get().addedModels) if (!out.some((o) => o.path === m.path)) out.push({ path: m.path, kind: m.kind, origin: 'added' });
    return out;
  }

  async function requireModel(p: string) {
    const m = (await knownModels()).find((k) => k.path === p);
    if (!m) throw new AttuneError('model-unknown', 'That model is not in the workspace. Add it from the Model step first.');
    return m;
  }

  async function describe(m: Omit<ModelInfo, 'name' | 'fit'>): Promise<ModelInfo> {
    const name = path.basename(m.path).replace(/\.gguf$/i, '');
    const machine = deps.machine();
    let mtimeMs = 0;
    let fileBytes: number | undefined;
    try {
      const s = await stat(m.path);
      mtimeMs = s.mtimeMs;
      fileBytes = s.isFile() ? s.size : await folderBytes(m.path);
    } catch {
      return { ...m, name, problem: 'The model is no longer at this location.' };
    }
    const cached = modelCache.get(m.path);
    if (cached && cached.mtimeMs === mtimeMs) return { ...cached.info, origin: m.origin, fit: fitFor(cached.info.memory?.tuningBytes, machine.totalMemoryBytes) };
    try {
      const facts = await deps.engine.inspectModel(m.path);
      const info = { ...facts, path: m.path, kind: m.kind, name, fileBytes };
      modelCache.set(m.path, { mtimeMs, info });
      return { ...info, origin: m.origin, fit: fitFor(facts.memory?.tuningBytes, machine.totalMemoryBytes) };
    } catch (err) {
      return { ...m, name, fileBytes, problem: err instanceof Error ? err.message : String(err) };
    }
  }

  async function requireProjectData(project: string) {
    const rec = await ws().readProject(project);
    const file = ws().examplesFile(project);
    if (!rec.data || !(await exists(file))) throw new AttuneError('data-not-imported', 'Import your examples in the Data step first.');
    return { file, ...rec.data };
  }

  /** The examples of one side of the split, in the engine's order, and all of them. */
  async function splitView(project: string, split: 'train' | 'val') {
    const data = await requireProjectData(project);
    const all = await deps.engine.readExamples(data.file);
    const parts = deps.engine.splitExamples(all, { valFraction: data.valFraction, seed: data.seed });
    return { all, list: split === 'train' ? parts.train : parts.validation, data };
  }

  async function runSummary(project: string, runId: string): Promise<RunSummary> {
    const rec = await runs.read(project, runId);
    if (!rec) throw new AttuneError('run-missing', 'That training run is not in this project.');
    return summarize(rec, isLive(project, runId));
  }

  function assertIdle(): void {
    if (deps.jobs.active.length > 0) throw new AttuneError('tune-busy', 'Another training run is in progress. Pause or cancel it first, then start this one.');
  }

  function launch(rec: RunRecord): void {
    const key = runKey(rec.project, rec.runId);
    let writes = Promise.resolve<unknown>(undefined);
    const chain = (f: () => Promise<unknown>) => (writes = writes.then(f).catch(() => undefined));
    const onEvent = (event: TuneEvent) => {
      deps.emit('tune.progress', { project: rec.project, runId: rec.runId, event });
      chain(async () => {
        await runs.appendMetric(rec.project, rec.runId, event);
        if (event.type === 'step') await runs.update(rec.project, rec.runId, { step: event.step, totalSteps: event.totalSteps });
        else if (event.type === 'checkpoint') await runs.update(rec.project, rec.runId, { lastCheckpoint: event.path });
        else if (event.type === 'device') await runs.update(rec.project, rec.runId, { device: event.device, deviceWhy: event.why });
        else if (event.type === 'tokens') await runs.update(rec.project, rec.runId, { trainedTokens: event.tokens });
        else if (event.type === 'done') {
          await runs.update(rec.project, rec.runId, { adapterDir: event.adapterDir, bestStep: event.bestStep, bestValLoss: event.bestValLoss, stoppedBecause: event.stoppedBecause });
        }
      });
    };
    const onExit = (exit: JobExit) => {
      finishing.add(key);
      chain(async () => {
        const state: RunSummary['state'] =
          exit.reason === 'done' ? 'done' : exit.reason === 'paused' ? 'paused' : exit.reason === 'cancelled' ? 'cancelled' : exit.reason === 'failed' ? 'failed' : 'crashed';
        const updated = await runs.update(rec.project, rec.runId, {
          state,
          exitReason: exit.reason,
          message: exit.message,
          endedAt: new Date().toISOString(),
          ...(exit.result
            ? { adapterDir: exit.result.adapterDir, bestStep: exit.result.bestStep, bestValLoss: exit.result.bestValLoss, stoppedBecause: exit.result.stoppedBecause }
            : exit.reason === 'cancelled'
              ? { stoppedBecause: 'cancelled' as const }
              : {}),
        });
        finishing.delete(key);
        deps.emit('tune.state', summarize(updated, false));
      }).finally(() => finishing.delete(key));
    };
    deps.jobs.start(key, rec.spec, onEvent, onExit);
  }

  async function stopRun(req: { project: string; runId: string }, reason: 'pause' | 'cancel'): Promise<RunSummary> {
    const key = runKey(req.project, req.runId);
    if (!deps.jobs.get(key)) throw new AttuneError('run-not-running', 'That run is not training right now.');
    const rec = await runs.update(req.project, req.runId, { state: reason === 'pause' ? 'pausing' : 'cancelling' });
    const s = summarize(rec, true);
    deps.emit('tune.state', s);
    void deps.jobs.stop(key, reason);
    return s;
  }

  async function requireDoneRun(project: string, runId: string): Promise<RunRecord & { adapterDir: string }> {
    const rec = await runs.read(project, runId);
    if (!rec) throw new AttuneError('run-missing', 'That training run is not in this project.');
    if (rec.state !== 'done' || !rec.adapterDir) throw new AttuneError('run-not-done', 'This run has not finished yet. Finish tuning first.');
    return rec as RunRecord & { adapterDir: string };
  }

  /**
   * The named template tuning uses (undefined = the model's own): the person's choice, checked
   * against the engine's names, or the standard one for a model without its own.
   */
  function resolveTemplate(choice: string | undefined, model: ModelInfo): string | undefined {
    if (!choice || choice === 'model') return model.hasChatTemplate === false ? FALLBACK_TEMPLATE : undefined;
    const names = deps.engine.templateNames();
    if (!names.includes(choice)) throw new AttuneError('template-unknown', `There is no chat template named “${choice}”. Choose one of: ${names.join(', ')}.`);
    return choice;
  }

  async function usableModel(p: string): Promise<ModelInfo> {
    const model = await describe(await requireModel(p));
    if (model.problem) throw new AttuneError('model-unreadable', model.problem);
    return model;
  }

  /** Held-out reviews in progress, by run: asking again joins the running one. */
  const reviews = new Map<string, Promise<ReviewReport>>();
  /** The local OpenAI-compatible server, when the person started one. */
  let server: (ServerInfo & { close(): Promise<void> }) | undefined;
  const serverInfo = (s: typeof server): ServerInfo | null => (s ? { project: s.project, runId: s.runId, url: s.url, port: s.port, modelId: s.modelId } : null);
  async function stopServer(): Promise<boolean> {
    const s = server;
    if (!s) return false;
    server = undefined;
    await s.close();
    deps.emit('serve.state', null);
    return true;
  }

  const exportDir = (project: string, runId: string, format: string) => path.join(ws().exportsDir(project), `${runId}-${format}`);

  // ---- handlers --------------------------------------------------------------------------

  const handlers: Handlers = {
    'app.info': async () => ({ version: deps.version, platform: deps.platform, settings: deps.settings.get(), machine: deps.machine() }),

    'settings.get': async () => deps.settings.get(),
    'settings.update': async (req) => deps.settings.update(req as Partial<Settings>),
    'settings.chooseWorkspace': async () => {
      const dir = await deps.dialogs.openFolder({ title: 'Choose the folder for your Attune projects' });
      if (!dir) return null;
      const next = deps.settings.update({ workspace: dir, recentProjects: [] });
      await new Workspace(dir).ensure();
      return next;
    },

    'projects.list': async () => {
      await ws().ensure();
      return Promise.all((await ws().listProjects()).map((p) => summary(p.name)));
    },
    'projects.create': async ({ name }) => {
      await ws().ensure();
      await ws().createProject(name);
      touchRecent(deps.settings, name);
      return summary(name);
    },
    'projects.open': async ({ name }) => {
      const s = await summary(name);
      touchRecent(deps.settings, name);
      return s;
    },

    'data.add': async ({ project, from }) => {
      if (from.kind === 'sample') {
        const sample = path.join(deps.resourcesDir, 'samples', SAMPLE_FILE);
        if (!(await exists(sample))) throw new AttuneError('sample-missing', 'The bundled sample is missing from this installation.');
        return stage(project, SAMPLE_FILE, (dest) => copyFile(sample, dest));
      }
      if (from.kind === 'bytes') {
        const bytes = Buffer.from(from.base64, 'base64');
        return stage(project, from.name, (dest) => writeFile(dest, bytes));
      }
      const file = await deps.dialogs.openFile({ title: 'Choose a file with your examples', filters: [{ name: 'Examples', extensions: DATA_EXTENSIONS }] });
      if (!file) return null;
      return stage(project, path.basename(file), (dest) => copyFile(file, dest));
    },
    'data.check': checkData,
    'data.fixRow': async (req) => {
      const file = await requireWorking(req.project, req.source);
      if (!LINE_BASED.has(path.extname(file).toLowerCase())) throw new AttuneError('fix-not-line-based', 'Rows of this kind of file cannot be edited here; fix it in its own program and add it again.');
      if (/[\r\n]/.test(req.text)) throw new AttuneError('fix-one-line', 'A row must stay on one line.');
      const text = await readFile(file, 'utf8');
      const eol = text.includes('\r\n') ? '\r\n' : '\n';
      const lines = text.split(/\r?\n/);
      if (req.line > lines.length) throw new AttuneError('fix-line-missing', `The file has no line ${req.line}.`);
      lines[req.line - 1] = req.text;
      await writeFileAtomic(file, lines.join(eol));
      return checkData({ project: req.project, source: req.source });
    },
    'data.import': async (req) => {
      removedExamples.forget(req.project);
      const file = await requireWorking(req.project, req.source);
      const r = await deps.engine.importData(file, {
        format: req.format === 'auto' ? undefined : req.format,
        map: req.map,
        maxLength: req.maxLength,
        out: ws().examplesFile(req.project),
        valFraction: req.valFraction,
        seed: req.seed,
        onProgress: (p) => deps.emit('data.progress', { project: req.project, source: req.source, ...p }),
      });
      await ws().updateProject(req.project, {
        data: { source: req.source, train: r.train, val: r.val, valFraction: req.valFraction, seed: req.seed, importedAt: new Date().toISOString() },
      });
      return { report: await withRowText(file, { ...r.report, source: req.source }), train: r.train, val: r.val };
    },
    'data.examples': async ({ project, split, offset, limit }) => {
      const { list } = await splitView(project, split);
      return { split, total: list.length, offset, examples: list.slice(offset, offset + limit).map((e) => ({ messages: e.messages })) };
    },
    'data.saveExample': async ({ project, split, index, example }) => {
      const { all, list, data } = await splitView(project, split);
      const target = list[index];
      if (!target) throw new AttuneError('example-missing', `There is no example number ${index + 1}.`);
      const at = all.indexOf(target);
      // An edit keeps what the engine recorded about the example (its source row); only the messages change.
      if (example) checkEditedExample(example.messages, index + 1);
      if (example) all[at] = { ...target, messages: example.messages };
      else removedExamples.remember(project, all.splice(at, 1)[0]!, at);
      await deps.engine.writeExamples(ws().examplesFile(project), all);
      const next = deps.engine.splitExamples(all, { valFraction: data.valFraction, seed: data.seed });
      await ws().updateProject(project, { data: { ...data, train: next.train.length, val: next.validation.length } });
      const nextList = split === 'train' ? next.train : next.validation;
      return { split, total: nextList.length, offset: index, examples: nextList.slice(index, index + 1).map((e) => ({ messages: e.messages })) };
    },

    'data.undoRemove': async ({ project }) => {
      const data = await requireProjectData(project);
      const all = await deps.engine.readExamples(data.file);
      removedExamples.restore(project, all);
      await deps.engine.writeExamples(ws().examplesFile(project), all);
      const next = deps.engine.splitExamples(all, { valFraction: data.valFraction, seed: data.seed });
      await ws().updateProject(project, { data: { ...data, train: next.train.length, val: next.validation.length } });
      return { restored: true };
    },

    'models.list': async () => Promise.all((await knownModels()).map(describe)),
    'models.add': async ({ kind }) => {
      const p =
        kind === 'folder'
          ? await deps.dialogs.openFolder({ title: 'Choose a model folder (with config.json and .safetensors files)' })
          : await deps.dialogs.openFile({ title: 'Choose a GGUF model file', filters: [{ name: 'GGUF model', extensions: ['gguf'] }] });
      if (!p) return null;
      if (kind === 'folder' && !(await exists(path.join(p, 'config.json')))) {
        throw new AttuneError('model-folder-invalid', 'That folder has no config.json. Choose the folder that holds the model’s config.json and .safetensors files.');
      }
      addModel(deps.settings, { path: p, kind });
      return describe({ path: p, kind, origin: 'added' });
    },
    'models.remove': async ({ path: p }) => ({ removed: removeAddedModel(deps.settings, p) }),
    'models.inspect': async ({ path: p }) => describe(await requireModel(p)),
    'models.devices': async () => deps.engine.devices(deps.settings.get().device),

    'tune.start': async (req) => {
      await ws().readProject(req.project);
      assertIdle();
      const model = await usableModel(req.modelPath);
      const data = await requireProjectData(req.project);
      const settings = { ...PRESETS[req.preset].values, ...req.advanced };
      if (settings.device === 'auto' && deps.settings.get().device !== 'auto') settings.device = deps.settings.get().device;
      // The split seed stays the one the Data step showed, so "held out" means the same examples everywhere.
      if (req.advanced?.seed === undefined) settings.seed = data.seed;
      const template = resolveTemplate(settings.template, model);
      // About ten held-out checks per run unless the person chose an interval.
      const evalEvery = resolveEvalEvery(settings.evalEvery, estimateSteps(data.train, settings.batchSize, settings.epochs));
      const runId = newId('run');
      const runDir = ws().runDir(req.project, runId);
      const spec: TuneJobSpec = { modelPath: req.modelPath, dataFile: data.file, valFraction: data.valFraction, runDir, settings, template, evalEvery };
      const rec = await runs.write({
        runId,
        project: req.project,
        modelPath: req.modelPath,
        preset: req.preset,
        state: 'running',
        startedAt: new Date().toISOString(),
        template: template ?? 'model',
        validation: { evalEvery, patience: settings.earlyStopping ? settings.patience : null },
        spec,
      });
      launch(rec);
      const s = summarize(rec, true);
      deps.emit('tune.state', s);
      return s;
    },
    'tune.check': async (req) => {
      const model = await usableModel(req.modelPath);
      const data = await requireProjectData(req.project);
      return deps.engine.checkLengths(data.file, { modelPath: req.modelPath, template: resolveTemplate(req.template, model), maxLength: req.maxLength });
    },
    'tune.templates': async () => deps.engine.templateNames(),
    'tune.pause': (req) => stopRun(req, 'pause'),
    'tune.cancel': (req) => stopRun(req, 'cancel'),
    'tune.resume': async (req) => {
      const s = await runSummary(req.project, req.runId);
      assertIdle();
      if (!s.resumable) throw new AttuneError('run-not-resumable', 'This run has no saved checkpoint to continue from. Start a new run instead.');
      const rec = (await runs.read(req.project, req.runId))!;
      const next = await runs.write({ ...rec, spec: { ...rec.spec, resume: true }, state: 'running', exitReason: undefined, message: undefined, endedAt: undefined });
      launch(next);
      const out = summarize(next, true);
      deps.emit('tune.state', out);
      return out;
    },
    'tune.runs': async ({ project }) => (await runs.list(project)).map((r) => summarize(r, isLive(project, r.runId))),
    'tune.metrics': async ({ project, runId }) => {
      await runSummary(project, runId);
      return runs.metrics(project, runId);
    },

    'chat.open': async ({ project, modelPath, runId }) => {
      await requireModel(modelPath);
      const adapterDir = runId ? (await requireDoneRun(project, runId)).adapterDir : undefined;
      const device = deps.settings.get().device;
      const handle = await deps.engine.openChat({ modelPath, adapterDir, device });
      const sessionId = newId('chat');
      sessions.set(sessionId, { handle, hasAdapter: !!adapterDir, queue: Promise.resolve() });
      return { sessionId, hasAdapter: !!adapterDir };
    },
    'chat.generate': async (req) => {
      const s = sessions.get(req.sessionId);
      if (!s) throw new AttuneError('chat-closed', 'This chat was closed. Open it again.');
      if (req.which === 'tuned' && !s.hasAdapter) throw new AttuneError('chat-no-adapter', 'There is no tuned model in this chat yet. Finish a training run first.');
      if (streams.has(req.streamId)) throw new AttuneError('chat-stream-busy', 'That answer is already being written.');
      const ctl = new AbortController();
      streams.set(req.streamId, ctl);
      // One session answers one prompt at a time: tuned and base take turns.
      const run = s.queue.then(async () => {
        if (ctl.signal.aborted) return { text: '', tokens: 0, promptTokens: 0, tokensPerSecond: 0, stopped: true };
        const r = await s.handle.generate(req.messages, { ...req.sampling, loraScale: req.which === 'tuned' ? 1 : 0 }, {
          onToken: (delta) => deps.emit('chat.token', { streamId: req.streamId, delta }),
          signal: ctl.signal,
        });
        return { ...r, stopped: ctl.signal.aborted };
      });
      s.queue = run.catch(() => undefined);
      try {
        return await run;
      } finally {
        streams.delete(req.streamId);
      }
    },
    'chat.stop': async ({ streamId }) => {
      const c = streams.get(streamId);
      c?.abort();
      return { stopped: !!c };
    },
    'chat.close': async ({ sessionId }) => {
      const s = sessions.get(sessionId);
      sessions.delete(sessionId);
      if (s) await s.queue.then(() => s.handle.close());
      return { closed: !!s };
    },

    'review.run': async ({ project, runId, n, maxTokens }) => {
      const rec = await requireDoneRun(project, runId);
      await requireModel(rec.modelPath);
      const key = runKey(project, runId);
      const running = reviews.get(key);
      if (running) return running;
      const work = deps.engine
        .review({
          modelPath: rec.modelPath,
          adapterDir: rec.adapterDir,
          n: n ?? 5,
          maxTokens: maxTokens ?? 96,
          onProgress: (done, total) => deps.emit('review.progress', { project, runId, done, total }),
        })
        .then((r) => ({ runId, ...r }))
        .finally(() => reviews.delete(key));
      reviews.set(key, work);
      return work;
    },

    'export.choices': async () => EXPORT_CHOICES,
    'export.existing': async ({ project, runId, format }) => {
      await runSummary(project, runId);
      const out = exportDir(project, runId, format);
      return { exists: await exists(out), out };
    },
    'export.run': async ({ project, runId, modelPath, format, overwrite }) => {
      await requireModel(modelPath);
      const rec = await requireDoneRun(project, runId);
      const out = exportDir(project, runId, format);
      // The person confirms before an earlier export is replaced.
      if (!overwrite && (await exists(out))) {
        throw new AttuneError('export-exists', 'This run was already saved in this form. Replace the earlier copy?', { file: out });
      }
      const r = await deps.engine.exportModel({ modelPath, adapterDir: rec.adapterDir, format, out, overwrite: !!overwrite }, (p) =>
        deps.emit('export.progress', { project, runId, format, ...p }),
      );
      return { format, out, files: r.files, warnings: r.warnings };
    },
    'export.reveal': async ({ project, out }) => {
      const dir = ws().exportsDir(project);
      const rel = path.relative(dir, path.resolve(out));
      if (rel.startsWith('..') || path.isAbsolute(rel) || !(await exists(out))) throw new AttuneError('export-missing', 'That export is not in this project.');
      await deps.dialogs.reveal(out);
      return { shown: true };
    },

    // Only ever started by the person's request; one at a time, on 127.0.0.1.
    'serve.start': async ({ project, runId, port }) => {
      const rec = await requireDoneRun(project, runId);
      await requireModel(rec.modelPath);
      await stopServer();
      const s = await deps.engine.serve({ modelPath: rec.modelPath, adapterDir: rec.adapterDir, port, device: deps.settings.get().device, modelId: `${project}/${runId}`.replace(/[^A-Za-z0-9._/-]+/g, '-') });
      server = { ...s, project, runId };
      const info = serverInfo(server)!;
      deps.emit('serve.state', info);
      return info;
    },
    'serve.stop': async () => ({ stopped: await stopServer() }),
    'serve.status': async () => serverInfo(server),
  };

  return {
    ...handlers,
    async dispose() {
      for (const c of streams.values()) c.abort();
      await stopServer().catch(() => undefined);
      await Promise.all([...sessions.values()].map((s) => s.queue.then(() => s.handle.close()).catch(() => undefined)));
      sessions.clear();
      await deps.jobs.stopAll();
    },
  };
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const d of await readdir(dir, { withFileTypes: true })) if (d.isFile()) total += (await stat(path.join(dir, d.name))).size;
  return total;
}
