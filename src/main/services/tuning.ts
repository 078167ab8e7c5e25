/**
 * Tuning runs in the app: the plan of a new run (preset + changes -> settings, template,
 * validation interval), and the run state machine over the job manager (start, the worker's
 * events into the run record, its exit into a final state, pause/cancel, resume).
 */
import type { Advanced, ModelInfo, PresetName, RunState, RunSummary, TuneEvent } from '../../shared/contract.js';
import { AttuneError } from '../../shared/errors.js';
import { estimateSteps, PRESETS, resolveEvalEvery } from '../../shared/presets.js';
import type { TuneJobSpec } from '../engine.js';
import type { JobManager } from '../jobs/manager.js';
import type { JobExit } from '../jobs/protocol.js';
import { type RunStore, summarize, type RunRecord } from '../runs.js';
import type { Emit } from './events.js';

/** The chat template used for models that have none of their own. */
export { FALLBACK_TEMPLATE } from '../../shared/templates.js';
import { FALLBACK_TEMPLATE } from '../../shared/templates.js';

/**
 * The named template tuning uses (undefined = the model's own): the person's choice, checked
 * against the engine's names, or the standard one for a model without its own.
 */
export function resolveTemplate(choice: string | undefined, model: Pick<ModelInfo, 'hasChatTemplate'>, names: string[]): string | undefined {
  if (!choice || choice === 'model') return model.hasChatTemplate === false ? FALLBACK_TEMPLATE : undefined;
  if (!names.includes(choice)) throw new AttuneError('app.template-unknown', { name: choice, names: names.join(', ') });
  return choice;
}

export interface RunPlanInput {
  preset: PresetName;
  changes?: Partial<Advanced>;
  /** The device chosen in the app's settings (used when the run's own choice is automatic). */
  preferredDevice: Advanced['device'];
  /** The imported data: its split seed and its number of training examples. */
  data: { seed: number; train: number };
  model: Pick<ModelInfo, 'hasChatTemplate'>;
  templateNames: string[];
}

/** A new run's settings: the preset with the person's changes, the device, the split seed, the template and the validation interval. */
export function planRun(p: RunPlanInput): { settings: Advanced; template: string | undefined; evalEvery: number } {
  const settings: Advanced = { ...PRESETS[p.preset].values, ...p.changes };
  if (settings.device === 'auto' && p.preferredDevice !== 'auto') settings.device = p.preferredDevice;
  // The split seed stays the one the Data step showed, so "held out" means the same examples everywhere.
  if (p.changes?.seed === undefined) settings.seed = p.data.seed;
  const template = resolveTemplate(settings.template, p.model, p.templateNames);
  // About ten held-out checks per run unless the person chose an interval.
  const evalEvery = resolveEvalEvery(settings.evalEvery, estimateSteps(p.data.train, settings.batchSize, settings.epochs));
  return { settings, template, evalEvery };
}

/** The state a run ends in, from how its worker ended. */
export function endState(reason: JobExit['reason']): RunState {
  return reason === 'done' ? 'done' : reason === 'paused' ? 'paused' : reason === 'cancelled' ? 'cancelled' : reason === 'failed' ? 'failed' : 'crashed';
}

/** The record's changes for one event of the worker (undefined: nothing to record). */
export function recordPatch(event: TuneEvent): Partial<RunRecord> | undefined {
  switch (event.type) {
    case 'step':
      return { step: event.step, totalSteps: event.totalSteps };
    case 'checkpoint':
      return { lastCheckpoint: event.path };
    case 'device':
      return { device: event.device, deviceWhy: event.why };
    case 'tokens':
      return { trainedTokens: event.tokens };
    case 'done':
      return { adapterDir: event.adapterDir, bestStep: event.bestStep, bestValLoss: event.bestValLoss, stoppedBecause: event.stoppedBecause };
    default:
      return undefined;
  }
}

/** The record's changes when the worker ends. */
export function exitPatch(exit: JobExit, now = new Date()): Partial<RunRecord> {
  const r = exit.result;
  return {
    state: endState(exit.reason),
    exitReason: exit.reason,
    message: exit.message,
    endedAt: now.toISOString(),
    ...(r
      ? { adapterDir: r.adapterDir, bestStep: r.bestStep, bestValLoss: r.bestValLoss, stoppedBecause: r.stoppedBecause }
      : exit.reason === 'cancelled'
        ? { stoppedBecause: 'cancelled' as const }
        : {}),
  };
}

export class TuneRuns {
  /**
   * Runs whose record may say "running" while no job is registered under their key: being
   * launched (the record written before the job starts) or ended (the final state still being
   * written). Neither is a run a closed app left behind.
   */
  private readonly settling = new Set<string>();

  constructor(
    readonly store: RunStore,
    private readonly jobs: JobManager,
    private readonly emit: Emit,
  ) {}

  private key(project: string, runId: string): string {
    return `${project}/${runId}`;
  }

  isLive(project: string, runId: string): boolean {
    const key = this.key(project, runId);
    return !!this.jobs.get(key) || this.settling.has(key);
  }

  /**
   * Records read together with whether each run's job is live. Liveness is taken before the read
   * and again after it: a job that ends (or starts) while a record is being read leaves that
   * record a moment old, which is not "left running by a closed app".
   */
  private async readLive(project: string, read: () => Promise<RunRecord[]>): Promise<RunSummary[]> {
    const liveBefore = new Set(this.jobs.active.concat([...this.settling]));
    const recs = await read();
    return recs.map((r) => summarize(r, liveBefore.has(this.key(project, r.runId)) || this.isLive(project, r.runId)));
  }

  async summary(project: string, runId: string): Promise<RunSummary> {
    const [s] = await this.readLive(project, async () => {
      const rec = await this.store.read(project, runId);
      if (!rec) throw new AttuneError('run.missing');
      return [rec];
    });
    return s!;
  }

  async list(project: string): Promise<RunSummary[]> {
    return this.readLive(project, () => this.store.list(project));
  }

  async metrics(project: string, runId: string) {
    await this.summary(project, runId);
    return this.store.metrics(project, runId);
  }

  /** A finished run with its adapter, or a plain error. */
  async requireDone(project: string, runId: string): Promise<RunRecord & { adapterDir: string }> {
    const rec = await this.store.read(project, runId);
    if (!rec) throw new AttuneError('run.missing');
    if (rec.state !== 'done' || !rec.adapterDir) throw new AttuneError('run.not-done');
    return rec as RunRecord & { adapterDir: string };
  }

  assertIdle(): void {
    if (this.jobs.active.length > 0) throw new AttuneError('tune.busy');
  }

  /** Records and launches a new run. */
  async start(rec: Omit<RunRecord, 'state' | 'startedAt'> & { spec: TuneJobSpec }): Promise<RunSummary> {
    this.assertIdle();
    return this.launch(await this.writeBeforeLaunch(rec, () => this.store.write({ ...rec, state: 'running', startedAt: new Date().toISOString() })));
  }

  /** Continues a stopped run from its last checkpoint. */
  async resume(project: string, runId: string): Promise<RunSummary> {
    const s = await this.summary(project, runId);
    this.assertIdle();
    if (!s.resumable) throw new AttuneError('run.not-resumable');
    const rec = (await this.store.read(project, runId))!;
    return this.launch(await this.writeBeforeLaunch(rec, () => this.store.write({ ...rec, spec: { ...rec.spec, resume: true }, state: 'running', exitReason: undefined, message: undefined, endedAt: undefined })));
  }

  /** Writes a record that is about to be launched, counting the run as live meanwhile. */
  private async writeBeforeLaunch(rec: Pick<RunRecord, 'project' | 'runId'>, write: () => Promise<RunRecord>): Promise<RunRecord> {
    const key = this.key(rec.project, rec.runId);
    this.settling.add(key);
    try {
      return await write();
    } catch (e) {
      this.settling.delete(key);
      throw e;
    }
  }

  async stop(project: string, runId: string, reason: 'pause' | 'cancel'): Promise<RunSummary> {
    const key = this.key(project, runId);
    if (!this.jobs.get(key)) throw new AttuneError('run.not-running');
    const s = summarize(await this.store.update(project, runId, { state: reason === 'pause' ? 'pausing' : 'cancelling' }), true);
    this.emit('tune.state', s);
    void this.jobs.stop(key, reason);
    return s;
  }

  private launch(rec: RunRecord): RunSummary {
    const { project, runId } = rec;
    const key = this.key(project, runId);
    // Record writes keep the order of the worker's events.
    let writes = Promise.resolve<unknown>(undefined);
    const chain = (f: () => Promise<unknown>) => (writes = writes.then(f).catch(() => undefined));
    const onEvent = (event: TuneEvent) => {
      this.emit('tune.progress', { project, runId, event });
      chain(async () => {
        await this.store.appendMetric(project, runId, event);
        const patch = recordPatch(event);
        if (patch) await this.store.update(project, runId, patch);
      });
    };
    const onExit = (exit: JobExit) => {
      this.settling.add(key);
      chain(async () => {
        let updated: RunRecord;
        try {
          updated = await this.store.update(project, runId, exitPatch(exit));
        } finally {
          this.settling.delete(key);
        }
        this.emit('tune.state', summarize(updated, false));
      });
    };
    try {
      this.jobs.start(key, rec.spec, onEvent, onExit);
    } finally {
      this.settling.delete(key);
    }
    const s = summarize(rec, true);
    this.emit('tune.state', s);
    return s;
  }
}
