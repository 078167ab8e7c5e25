/**
 * One plain function per contract call. No Electron import: the app wires these to IPC
 * (ipc.ts), the tests call them directly, and the end-to-end transport serves them over HTTP.
 * Requests arrive already validated by the contract's zod schemas (dispatch.ts). Each handler
 * calls one service (src/main/services) or engine function and returns its answer.
 */
import { createHubService } from './services/hub.js';
import { hubTokenFor, type HubTokenStore } from './services/hub-token.js';
import { hubEndpointFor, normalizeHubEndpoint } from './services/hub-endpoint.js';
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CallName, ProjectSummary, Req, Res, ReviewReport, Settings, TeachAgainReport } from '../shared/contract.js';
import { AttuneError } from '../shared/errors.js';
import { EXPORT_CHOICES } from '../shared/presets.js';
import type { EngineFacade } from './engine.js';
import type { JobManager } from './jobs/manager.js';
import type { JobRunner } from './jobs/runner.js';
import { createEstimateService } from './services/estimate.js';
import { RunStore } from './runs.js';
import { ChatSessions } from './services/chat.js';
import type { Emit } from './services/events.js';
import { exportDir, isInside } from './services/exports.js';
import { checkModelFolder, ModelCatalog } from './services/models.js';
import { DATA_EXTENSIONS, ProjectData, SAMPLE_FILE } from './services/project-data.js';
import { LocalServer, serverModelId } from './services/server.js';
import { SingleFlight } from './services/single-flight.js';
import { planRun, resolveTemplate, TuneRuns } from './services/tuning.js';
import { addModel, touchRecent, type SettingsStore } from './settings.js';
import { exists, newId, Workspace } from './workspace.js';
import { createFirstRun } from './services/first-run.js';
import { rateAnswer, saveCorrection } from './services/corrections.js';
import { compareTeachAgain, correctionsInfo, provenanceOf, teachAgainSpec } from './services/teach-again.js';
import { discardRun, runHeldOut, snapshotExamples } from './services/run-data.js';

export type { Emit } from './services/events.js';
export { fitFor } from './services/models.js';
export { SAMPLE_FILE } from './services/project-data.js';
export { FALLBACK_TEMPLATE } from '../shared/templates.js';
import { removeAddedModel } from './services/added-models.js';

/** File and folder dialogs live in main; the page never names a path on its own. */
export interface Dialogs {
  openFile(opts: { title: string; filters: { name: string; extensions: string[] }[] }): Promise<string | null>;
  openFolder(opts: { title: string }): Promise<string | null>;
  reveal(p: string): Promise<void>;
}

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
  /** The person's Documents folder (the first run suggests Documents/Attune). */
  documentsDir?: string;
  /** The Hugging Face token kept with safeStorage (the app); without it, HF_TOKEN. */
  hubToken?: HubTokenStore;
  /** Runs the time-measuring worker (src/main/jobs/estimate-worker.ts); absent = tune.estimate refuses. */
  estimateRunner?: JobRunner;
}

export type Handlers = { [K in CallName]: (req: Req<K>) => Promise<Res<K>> };

export function createHandlers(deps: HandlerDeps): Handlers & { dispose(): Promise<void> } {
  const { engine, emit, dialogs } = deps;
  const ws = () => new Workspace(deps.settings.get().workspace);
  const firstRun = createFirstRun({ settings: deps.settings, resourcesDir: deps.resourcesDir, documentsDir: deps.documentsDir, openFolder: (o) => dialogs.openFolder(o) });
  const device = () => deps.settings.get().device;
  const hub = createHubService({ emit: (e) => deps.emit('hub.progress', e), token: async () => (deps.hubToken ? hubTokenFor(deps.hubToken) : process.env.HF_TOKEN || undefined), endpoint: () => hubEndpointFor(deps.settings.get()) });
  const estimates = deps.estimateRunner ? createEstimateService(deps.estimateRunner) : undefined;
  const tokenStatus = () => ({ hasToken: !!deps.hubToken?.has(), fromEnvironment: !!process.env.HF_TOKEN });
  const models = new ModelCatalog({
    engine,
    modelsDir: () => ws().modelsDir,
    added: () => deps.settings.get().addedModels,
    // Downloaded models and those other tools (LM Studio, Ollama) put on this computer.
    onDisk: () => hub.usableOnDisk(),
    totalMemoryBytes: () => deps.machine().totalMemoryBytes,
  });
  const data = new ProjectData(ws, engine);
  const runs = new TuneRuns(new RunStore(ws), deps.jobs, emit);
  const chats = new ChatSessions();
  const server = new LocalServer(emit);
  const reviews = new SingleFlight<ReviewReport>();
  const comparisons = new SingleFlight<TeachAgainReport>();
  /** The run that answered (for the provenance of a rating or correction). */
  const answeredBy = async (project: string, runId: string | undefined) => (runId ? runs.requireDone(project, runId) : undefined);

  async function summary(name: string): Promise<ProjectSummary> {
    const rec = await ws().readProject(name);
    const runIds = await ws().listRunIds(name);
    return { name: rec.name, updatedAt: rec.updatedAt, runs: runIds.length, data: rec.data && { train: rec.data.train, val: rec.data.val, source: rec.data.source } };
  }
  const dataProgress = (project: string, source: string) => (p: { rowsRead: number; fraction?: number }) => emit('data.progress', { project, source, ...p });

  const handlers: Handlers = {
    'app.info': async () => ({ version: deps.version, platform: deps.platform, settings: deps.settings.get(), machine: deps.machine() }),

    'settings.get': async () => deps.settings.get(),
    'settings.update': async (req) =>
      deps.settings.update({ ...(req as Partial<Settings>), ...(req.hubEndpoint !== undefined ? { hubEndpoint: normalizeHubEndpoint(req.hubEndpoint) } : {}) }),
    'settings.chooseWorkspace': async () => {
      const dir = await dialogs.openFolder({ title: 'Choose the folder for your Attune projects' });
      if (!dir) return null;
      const next = deps.settings.update({ workspace: dir, recentProjects: [] });
      await new Workspace(dir).ensure();
      return next;
    },

    'welcome.status': () => firstRun.status(),
    'welcome.chooseFolder': () => firstRun.chooseFolder(),
    'welcome.finish': (req) => firstRun.finish(req),

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
        if (!(await exists(sample))) throw new AttuneError('app.sample-missing');
        return data.stage(project, SAMPLE_FILE, (dest) => copyFile(sample, dest));
      }
      if (from.kind === 'bytes') return data.stage(project, from.name, (dest) => writeFile(dest, Buffer.from(from.base64, 'base64')));
      const file = await dialogs.openFile({ title: 'Choose a file with your examples', filters: [{ name: 'Examples', extensions: DATA_EXTENSIONS }] });
      return file ? data.stage(project, path.basename(file), (dest) => copyFile(file, dest)) : null;
    },
    'data.check': async ({ project, source, ...choice }) => data.check(project, source, choice, dataProgress(project, source)),
    'data.fixRow': async ({ project, source, line, text }) => data.fixRow(project, source, line, text, dataProgress(project, source)),
    'data.fixRowFields': async ({ project, source, line, fields }) => data.fixRowFields(project, source, line, fields, dataProgress(project, source)),
    'data.import': async ({ project, source, replaceWhileTuning, ...choice }) => {
      // A running tune keeps its own copy, but the person is asked first (the examples shown change under it).
      if (!replaceWhileTuning && (await runs.list(project)).some((r) => r.jobId)) throw new AttuneError('data.replace-while-tuning');
      return data.import(project, source, choice, dataProgress(project, source));
    },
    'data.examples': async ({ project, split, offset, limit, query }) => data.examples(project, split, offset, limit, query),
    'data.saveExample': async ({ project, split, index, example }) => data.saveExample(project, split, index, example),
    'data.undoRemove': async ({ project }) => data.undoRemove(project),
    'data.locateRow': async ({ project, row }) => data.locateRow(project, row),

    'models.list': async () => models.list(),
    'models.remove': async ({ path: p }) => ({ removed: removeAddedModel(deps.settings, p) }),
    'models.add': async ({ kind }) => {
      const p =
        kind === 'folder'
          ? await dialogs.openFolder({ title: 'Choose a model folder (with config.json and .safetensors files)' })
          : await dialogs.openFile({ title: 'Choose a GGUF model file', filters: [{ name: 'GGUF model', extensions: ['gguf'] }] });
      if (!p) return null;
      if (kind === 'folder') await checkModelFolder(p);
      addModel(deps.settings, { path: p, kind });
      return models.describe({ path: p, kind, origin: 'added' });
    },
    'models.inspect': async ({ path: p }) => models.describe(await models.require(p)),
    'models.devices': async () => engine.devices(device()),
    'hub.list': async () => hub.list(),
    'hub.pull': async ({ repo, revision }) => hub.pull(repo, revision),
    'hub.cancel': async ({ pullId }) => hub.cancel(pullId),
    'hub.tokenStatus': async () => tokenStatus(),
    'hub.setToken': async ({ token }) => {
      if (!deps.hubToken) throw new AttuneError('hub.token-unprotected');
      await deps.hubToken.set(token);
      return tokenStatus();
    },
    'hub.clearToken': async () => {
      await deps.hubToken?.clear();
      return tokenStatus();
    },

    'tune.start': async (req) => {
      await ws().readProject(req.project);
      runs.assertIdle();
      const model = await models.usable(req.modelPath);
      const imported = await data.imported(req.project);
      const plan = planRun({ preset: req.preset, changes: req.advanced, preferredDevice: device(), data: imported, model, templateNames: engine.templateNames() });
      const runId = newId('run');
      const runDir = ws().runDir(req.project, runId);
      // The run's own copy of the examples: replacing the project's data later does not change what it learns from.
      const spec = { modelPath: req.modelPath, dataFile: await snapshotExamples(imported.file, runDir), valFraction: imported.valFraction, runDir, ...plan };
      return runs.start({
        runId,
        project: req.project,
        modelPath: req.modelPath,
        preset: req.preset,
        template: plan.template ?? 'model',
        validation: { evalEvery: plan.evalEvery, patience: plan.settings.earlyStopping ? plan.settings.patience : null },
        data: { source: imported.source, train: imported.train, val: imported.val, importedAt: imported.importedAt },
        spec,
      });
    },
    'tune.estimate': async (req) => {
      if (!estimates) throw new AttuneError('tune.failed', { detail: 'measuring the time is not available here' });
      const model = await models.usable(req.modelPath);
      const imported = await data.imported(req.project);
      const plan = planRun({ preset: req.preset, changes: req.advanced, preferredDevice: device(), data: imported, model, templateNames: engine.templateNames() });
      const e = await estimates.measure(req.project, { modelPath: req.modelPath, dataFile: imported.file, valFraction: imported.valFraction, ...plan }, (done, of) =>
        deps.emit('tune.estimateProgress', { project: req.project, done, of }),
      );
      return { secondsPerStep: e.secondsPerStep, stepsPerEpoch: e.stepsPerEpoch, trainExamples: e.trainExamples, epochSeconds: e.epochSeconds, epochs: e.epochs, totalSeconds: e.totalSeconds, device: e.device };
    },
    'tune.estimateCancel': async ({ project }) => ({ cancelled: !!estimates?.cancel(project) }),
    'tune.check': async (req) => {
      const model = await models.usable(req.modelPath);
      const imported = await data.imported(req.project);
      const c = await engine.checkLengths(imported.file, { modelPath: req.modelPath, template: resolveTemplate(req.template, model, engine.templateNames()), maxLength: req.maxLength });
      // Each long example as the Data step shows it (its number and the row of the person's file), not a line of the project's copy.
      const places = await data.locate(req.project, c.samples.map((x) => x.line));
      return { ...c, samples: c.samples.map((x, i) => ({ ...x, where: places[i] })) };
    },
    'tune.templates': async () => engine.templateNames(),
    'tune.pause': async ({ project, runId }) => runs.stop(project, runId, 'pause'),
    'tune.cancel': async ({ project, runId }) => runs.stop(project, runId, 'cancel'),
    'tune.resume': async ({ project, runId }) => runs.resume(project, runId),
    'tune.runs': async ({ project }) => runs.list(project),
    'tune.metrics': async ({ project, runId }) => runs.metrics(project, runId),
    'tune.discard': async ({ project, runId }) => {
      await runs.summary(project, runId);
      return discardRun(engine, ws().runDir(project, runId), runs.isLive(project, runId));
    },
    'tune.heldOut': async ({ project, runId, limit }) => {
      const rec = await runs.store.read(project, runId);
      if (!rec) throw new AttuneError('run.missing');
      return runHeldOut(engine, rec, limit);
    },

    'chat.open': async ({ project, modelPath, runId }) => {
      await models.require(modelPath);
      const adapterDir = runId ? (await runs.requireDone(project, runId)).adapterDir : undefined;
      return chats.add(await engine.openChat({ modelPath, adapterDir, device: device() }), !!adapterDir);
    },
    'chat.generate': async (req) => chats.generate(req, (delta) => emit('chat.token', { streamId: req.streamId, delta })),
    'chat.stop': async ({ streamId }) => ({ stopped: chats.stop(streamId) }),
    'chat.close': async ({ sessionId }) => ({ closed: await chats.close(sessionId) }),

    'review.run': async ({ project, runId, n, maxTokens }) => {
      const rec = await runs.requireDone(project, runId);
      await models.require(rec.modelPath);
      return reviews.run(`${project}/${runId}`, async () => {
        const onProgress = (done: number, total: number) => emit('review.progress', { project, runId, done, total });
        return { runId, ...(await engine.review({ modelPath: rec.modelPath, adapterDir: rec.adapterDir, n: n ?? 5, maxTokens: maxTokens ?? 96, onProgress })) };
      });
    },

    'corrections.list': async ({ project }) => correctionsInfo(ws().projectDir(project)),
    'corrections.rate': async ({ project, runId, which, prompt, answer, rating }) => {
      const dir = ws().projectDir(project);
      await rateAnswer(dir, { prompt, answer, rating, provenance: provenanceOf(await answeredBy(project, runId), which) });
      return correctionsInfo(dir);
    },
    'corrections.save': async ({ project, runId, which, prompt, answer, corrected }) => {
      const dir = ws().projectDir(project);
      await saveCorrection(dir, { prompt, answer, corrected, provenance: provenanceOf(await answeredBy(project, runId), which) });
      return correctionsInfo(dir);
    },
    'corrections.teachAgain': async ({ project, runId }) => {
      await ws().readProject(project);
      runs.assertIdle();
      const from = await runs.requireDone(project, runId);
      await models.require(from.modelPath);
      // Replayed originals come from the training split only: the held-out examples stay unseen.
      const originals = (await data.examples(project, 'train', 0, Number.MAX_SAFE_INTEGER)).examples;
      const newRunId = newId('run');
      const spec = await teachAgainSpec({ projectDir: ws().projectDir(project), from, originals, runDir: ws().runDir(project, newRunId) });
      return runs.start({ runId: newRunId, project, modelPath: from.modelPath, preset: from.preset, template: from.template, continues: runId, spec });
    },
    'corrections.compare': async ({ project, runId }) => {
      const run = await runs.requireDone(project, runId);
      if (!run.continues) throw new AttuneError('corrections.not-teach-again');
      const from = await runs.requireDone(project, run.continues);
      await models.require(run.modelPath);
      const heldOut = (await data.examples(project, 'val', 0, 10)).examples;
      return comparisons.run(`${project}/${runId}`, () =>
        compareTeachAgain({ projectDir: ws().projectDir(project), run, from, heldOut, onProgress: (done, total) => emit('corrections.progress', { project, runId, done, total }) }),
      );
    },

    'export.choices': async () => EXPORT_CHOICES,
    'export.existing': async ({ project, runId, format }) => {
      await runs.summary(project, runId);
      const out = exportDir(ws(), project, runId, format);
      return { exists: await exists(out), out };
    },
    'export.run': async ({ project, runId, modelPath, format, overwrite }) => {
      await models.require(modelPath);
      const rec = await runs.requireDone(project, runId);
      const out = exportDir(ws(), project, runId, format);
      // The person confirms before an earlier export is replaced.
      if (!overwrite && (await exists(out))) throw new AttuneError('export.saved-before', {}, { file: out });
      const onProgress = (p: { fraction: number; stage: string }) => emit('export.progress', { project, runId, format, ...p });
      const r = await engine.exportModel({ modelPath, adapterDir: rec.adapterDir, format, out, overwrite: !!overwrite }, onProgress);
      return { format, out, files: r.files, warnings: r.warnings };
    },
    'export.reveal': async ({ project, out }) => {
      if (!isInside(ws().exportsDir(project), out) || !(await exists(out))) throw new AttuneError('export.missing');
      await dialogs.reveal(out);
      return { shown: true };
    },

    // Only ever started by the person's request; one at a time, on 127.0.0.1.
    'serve.start': async ({ project, runId, port }) => {
      const rec = await runs.requireDone(project, runId);
      await models.require(rec.modelPath);
      return server.start(project, runId, () => engine.serve({ modelPath: rec.modelPath, adapterDir: rec.adapterDir, port, device: device(), modelId: serverModelId(project, runId) }));
    },
    'serve.stop': async () => ({ stopped: await server.stop() }),
    'serve.status': async () => server.info(),
  };

  return {
    ...handlers,
    async dispose() {
      await hub.dispose();
      estimates?.dispose();
      await chats.dispose();
      await server.stop().catch(() => undefined);
      await deps.jobs.stopAll();
    },
  };
}
