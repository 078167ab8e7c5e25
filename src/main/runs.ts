/** Run records on disk: runs/<runId>/run.json (state, request, progress) and app-metrics.jsonl. */
import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { MetricsPoint, Rewards, RunSummary, TuneEvent } from '../shared/contract.js';
import { withCurrentNames } from '../shared/tune-settings.js';
import type { TuneJobSpec } from './engine.js';
import { readJson, writeFileAtomic, type Workspace } from './workspace.js';

export interface RunRecord extends Omit<RunSummary, 'resumable' | 'jobId'> {
  spec: TuneJobSpec;
  lastCheckpoint?: string;
}

const ACTIVE: RunSummary['state'][] = ['queued', 'running', 'pausing', 'cancelling'];

export class RunStore {
  constructor(private readonly ws: () => Workspace) {}

  private file(project: string, runId: string): string {
    return path.join(this.ws().runDir(project, runId), 'run.json');
  }
  metricsFile(project: string, runId: string): string {
    return path.join(this.ws().runDir(project, runId), 'app-metrics.jsonl');
  }

  async write(rec: RunRecord): Promise<RunRecord> {
    await writeFileAtomic(this.file(rec.project, rec.runId), JSON.stringify(rec, null, 2));
    return rec;
  }

  /** A run's record; settings written under older names read as today's. */
  async read(project: string, runId: string): Promise<RunRecord | undefined> {
    const rec = await readJson<RunRecord>(this.file(project, runId));
    return rec?.spec ? { ...rec, spec: { ...rec.spec, settings: withCurrentNames(rec.spec.settings) } } : rec;
  }

  /**
   * Read-modify-write of one run's record. Updates of the same run are chained: a worker's last
   * events (its checkpoint) and its exit arrive close together, and two interleaved updates would
   * each write back what the other had not yet seen.
   */
  async update(project: string, runId: string, patch: Partial<RunRecord>): Promise<RunRecord> {
    const key = this.file(project, runId);
    const previous = this.updates.get(key) ?? Promise.resolve(undefined);
    const next = previous.catch(() => undefined).then(async () => {
      const rec = await this.read(project, runId);
      if (!rec) throw new Error(`run ${runId} has no record`);
      return this.write({ ...rec, ...patch });
    });
    this.updates.set(key, next);
    try {
      return await next;
    } finally {
      if (this.updates.get(key) === next) this.updates.delete(key);
    }
  }
  private readonly updates = new Map<string, Promise<RunRecord | undefined>>();

  async list(project: string): Promise<RunRecord[]> {
    const ids = await this.ws().listRunIds(project);
    const recs = await Promise.all(ids.map((id) => this.read(project, id).catch(() => undefined)));
    return recs.filter((r): r is RunRecord => !!r).sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  }

  async appendMetric(project: string, runId: string, e: TuneEvent): Promise<void> {
    let point: MetricsPoint | undefined;
    if (e.type === 'step') point = { step: e.step, loss: e.loss, tokensPerSecond: e.tokensPerSecond, ...(e.rewards ? rewardPoint(e.rewards) : {}) };
    else if (e.type === 'eval') point = { step: e.step, valLoss: e.valLoss };
    if (point) await appendFile(this.metricsFile(project, runId), JSON.stringify(point) + '\n');
  }

  async metrics(project: string, runId: string): Promise<MetricsPoint[]> {
    let text: string;
    try {
      text = await readFile(this.metricsFile(project, runId), 'utf8');
    } catch {
      return [];
    }
    const out: MetricsPoint[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as MetricsPoint);
      } catch {
        /* a line cut short by a crash */
      }
    }
    return out;
  }
}

/** A step's preference rewards as chart fields. */
export function rewardPoint(r: Rewards): Pick<MetricsPoint, 'rewardsChosen' | 'rewardsRejected' | 'rewardMargin' | 'rewardAccuracy'> {
  return { rewardsChosen: r.chosen, rewardsRejected: r.rejected, rewardMargin: r.margin, rewardAccuracy: r.accuracy };
}

/** The UI's view of a record. A record left "running" with no live job belongs to a process that died. */
export function summarize(rec: RunRecord, live: boolean): RunSummary {
  const { spec: _spec, lastCheckpoint, ...rest } = rec;
  const stale = !live && ACTIVE.includes(rec.state);
  const state = stale ? 'crashed' : rec.state;
  return {
    ...rest,
    state,
    exitReason: stale ? 'crashed' : rec.exitReason,
    message: stale ? 'Attune closed while this run was training.' : rec.message,
    resumable: !live && state !== 'done' && !!lastCheckpoint,
    jobId: live ? rec.runId : undefined,
  };
}
