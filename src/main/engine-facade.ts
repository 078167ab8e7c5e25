/**
 * The EngineFacade over `src/engine/index.ts` (the engine's only import path), mapping the
 * engine's types to the contract's. Every engine function is imported and typed directly: a
 * change in the engine breaks the build here, not the app at run time.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import * as engine from '../engine/index.js';
import type { DataProblem, DataReport, ReviewSample, TuneEvent, TuneOutcome } from '../shared/contract.js';
import { AttuneError } from '../shared/errors.js';
import { FALLBACK_TEMPLATE } from '../shared/templates.js';
import { withCurrentNames } from '../shared/tune-settings.js';
import type { DataOptions, EngineFacade, StoredExample, TuneFn, TuneJobSpec } from './engine.js';
import { writeFileAtomic } from './workspace.js';

// ---- mapping ---------------------------------------------------------------------------

function dataOptions(opts: DataOptions): engine.CheckOptions {
  return {
    format: opts.format as engine.CheckOptions['format'],
    map: opts.map && { instruction: opts.map.prompt, response: opts.map.response, system: opts.map.system },
    maxLength: opts.maxLength,
    dropNearDuplicates: opts.dropNearDuplicates,
    onProgress: opts.onProgress && ((p) => opts.onProgress!({ rowsRead: p.rowsRead, fraction: p.totalBytes > 0 ? p.bytesRead / p.totalBytes : undefined })),
  };
}

export function toDataReport(r: engine.DataReport): DataReport {
  const problems: DataProblem[] = r.problems
    .filter((p) => p.severity !== 'info')
    .map((p) => ({
      code: p.code,
      severity: p.severity === 'info' ? 'warning' : p.severity,
      rejected: p.rejected || p.severity === 'fatal',
      message: p.message,
      line: p.line > 0 ? p.line : undefined,
      field: p.field,
    }));
  return {
    source: path.basename(r.file),
    format: r.format,
    rowsRead: r.counts.rowsRead,
    accepted: r.counts.imported,
    rejected: r.counts.rejected,
    // Left out as copies: near duplicates are kept (with a warning) unless the person asked otherwise.
    duplicates: (r.counts.rejectedBy?.['data.duplicate'] ?? 0) + (r.counts.rejectedBy?.['data.near-duplicate-dropped'] ?? 0),
    fatal: r.fatal,
    problems,
    tokens: { total: r.stats.tokenLengths.total, longest: r.stats.tokenLengths.max, estimated: r.stats.tokenCounting === 'estimate' },
    estimatedTrainingSeconds: r.estimatedTrainingSeconds,
  };
}

function toJsonl(examples: readonly unknown[]): string {
  return examples.map((e) => JSON.stringify(e)).join('\n') + (examples.length ? '\n' : '');
}

/**
 * The engine's run configuration of a job: the app's settings under the same names (records
 * written before a setting was renamed or existed read as today's names and the defaults).
 */
export function toTuneConfig(spec: TuneJobSpec): engine.TuneConfig {
  const { earlyStopping, patience, evalEvery: _chosen, beta, rpoAlpha, ...s } = withCurrentNames(spec.settings);
  return {
    ...s,
    // beta is read by dpo and orpo only, rpoAlpha by dpo only (the engine refuses them elsewhere).
    ...(s.method && s.method !== 'sft' && beta !== undefined ? { beta } : {}),
    ...(s.method === 'dpo' && rpoAlpha !== undefined ? { rpoAlpha } : {}),
    ...spec.continueFrom,
    model: spec.modelPath,
    data: spec.dataFile,
    out: spec.runDir,
    valFraction: spec.valFraction,
    template: spec.template,
    evalEvery: spec.evalEvery ?? 0,
    // The app keeps the patience while early stopping is off; the engine reads it only when on.
    earlyStopping,
    patience,
  };
}

/** Keeps the fields the contract names (the engine's events carry more). */
export function toTuneEvent(e: engine.TuneProgress): TuneEvent | undefined {
  switch (e.type) {
    case 'start':
      return { type: 'start', totalSteps: e.totalSteps, trainExamples: e.trainExamples, valExamples: e.valExamples, resumedFromStep: e.resumedFromStep };
    case 'step':
      return {
        type: 'step',
        step: e.step,
        totalSteps: e.totalSteps,
        epoch: e.epoch,
        loss: e.loss,
        lr: e.lr,
        tokensPerSecond: e.tokensPerSecond,
        etaSeconds: e.etaSeconds,
        ...(e.rewards ? { rewards: { chosen: e.rewards.rewards_chosen, rejected: e.rewards.rewards_rejected, margin: e.rewards.reward_margin, accuracy: e.rewards.reward_accuracy } } : {}),
      };
    case 'eval':
      return { type: 'eval', step: e.step, valLoss: e.valLoss, best: e.best };
    case 'checkpoint':
      return { type: 'checkpoint', step: e.step, path: e.path };
    case 'tokens':
      return { type: 'tokens', tokens: e.tokens };
    case 'done':
      return { type: 'done', step: e.step, adapterDir: e.adapterDir, bestStep: e.bestStep, bestValLoss: e.bestValLoss, stoppedBecause: e.stoppedBecause };
    default:
      return undefined;
  }
}

/** The worker's job: the engine's runTuning (or resumeTuning), with the device decision reported first. */
export const runTuneJob: TuneFn = async (spec, { onEvent, signal }) => {
  const dev = await engine.resolveDevice(spec.settings.device, 'training');
  onEvent({ type: 'device', device: dev.device, why: dev.reason });
  const cb = {
    signal,
    onEvent: (e: engine.TuneProgress) => {
      const ev = toTuneEvent(e);
      if (ev) onEvent(ev);
    },
  };
  const r = spec.resume ? await engine.resumeTuning(spec.runDir, cb) : await engine.runTuning(toTuneConfig(spec), cb);
  const outcome: TuneOutcome = { adapterDir: r.adapterDir, bestStep: r.bestStep, bestValLoss: r.bestValLoss, stoppedBecause: r.stoppedBecause };
  return outcome;
};

/** The overall fraction of an export from its phase: reading, merging, converting, writing. */
const PHASE_SPAN = { load: [0, 0.1], merge: [0.1, 0.35], convert: [0.35, 0.8], write: [0.8, 1], done: [1, 1] } as const;
export function exportFraction(p: { phase: keyof typeof PHASE_SPAN; done: number; total: number }): number {
  const [a, b] = PHASE_SPAN[p.phase];
  const within = p.total > 0 ? Math.min(1, Math.max(0, p.done / p.total)) : 0;
  return a + (b - a) * within;
}

function toReviewSample(s: engine.ReviewSample): ReviewSample {
  const lastUser = [...s.prompt].reverse().find((m) => m.role === 'user');
  const system = s.prompt.find((m) => m.role === 'system');
  return { prompt: lastUser?.content ?? '', system: system?.content, expected: s.expected, base: s.base, tuned: s.tuned, baseScore: s.baseScore, tunedScore: s.tunedScore };
}

async function listFiles(dir: string): Promise<{ name: string; bytes: number }[]> {
  const s = await stat(dir);
  if (s.isFile()) return [{ name: path.basename(dir), bytes: s.size }];
  const out: { name: string; bytes: number }[] = [];
  for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!d.isFile()) continue;
    const full = path.join(d.parentPath, d.name);
    out.push({ name: path.relative(dir, full), bytes: (await stat(full)).size });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

// ---- the facade ------------------------------------------------------------------------

const EXPORT_PHASE = {
  load: 'Reading the model…',
  merge: 'Building your changes into the model…',
  convert: 'Converting the weights…',
  write: 'Writing the files…',
  done: 'Done.',
} as const;

export function createEngineFacade(): EngineFacade {
  return {
    async checkData(file, opts) {
      return toDataReport(await engine.checkDataFile(file, dataOptions(opts)));
    },

    async importData(file, opts) {
      const report = await engine.importDataFile(file, { ...dataOptions(opts), valFraction: opts.valFraction, seed: opts.seed, out: opts.out, force: true });
      if (report.fatal || !report.out) throw AttuneError.rendered('data.nothing-imported', report.problems.find((p) => p.severity === 'fatal')?.message ?? '');
      return { report: toDataReport(report), train: report.split.train, val: report.split.validation };
    },

    forgetRunData(runDir) {
      return engine.forgetPreparedData(runDir);
    },

    splitExamples(examples, opts) {
      return engine.splitExamples(examples as (StoredExample & { id: string })[], opts);
    },

    async readExamples(file) {
      return engine.readNormalizedJsonl(file);
    },

    async writeExamples(file, examples) {
      await writeFileAtomic(file, toJsonl(examples));
    },

    async inspectModel(modelPath) {
      const r = await engine.inspectModel(modelPath);
      return {
        architecture: r.architecture,
        parameters: r.parameters,
        dtype: r.dtype,
        contextLength: r.contextLength,
        vocabSize: r.vocabSize,
        hasChatTemplate: r.hasChatTemplate,
        stopTokens: r.stopTokens,
        untrainedTokens: r.untrainedTokens.map((u) => ({ id: u.id, token: u.token, reason: u.reason, table: u.table })),
        memory: { inferenceBytes: r.memory.inferenceBytes, tuningBytes: r.memory.tuningBytes },
      };
    },

    async devices(preferred) {
      const [probes, chosen] = await Promise.all([engine.probeDevices(), engine.resolveDevice(preferred, 'training')]);
      return {
        available: probes.map((p) => ({ device: p.device, label: engine.DEVICE_LABELS[p.device], ok: p.available, reason: p.reason, gflops: p.gflops })),
        chosen: chosen.device,
        why: chosen.reason,
      };
    },

    async openChat({ modelPath, adapterDir, device }) {
      let session = await engine.ChatSession.open({ modelPath, adapterDir, device });
      if (!session.model.tokenizer.hasChatTemplate) {
        // A model without its own template chats with a standard one (the Model step says so).
        await session.close();
        session = await engine.ChatSession.open({ modelPath, adapterDir, device, template: FALLBACK_TEMPLATE });
      }
      return {
        async generate(messages, sampling, { onToken, signal }) {
          const r = await session.generate(messages, sampling, { onText: onToken, signal });
          return { text: r.text, tokens: r.tokens.length, promptTokens: r.promptTokens, tokensPerSecond: r.tokensPerSecond };
        },
        close: () => session.close(),
      };
    },

    async exportModel({ overwrite, ...opts }, onProgress) {
      // Main asks the person before replacing an earlier export; `overwrite` carries the answer.
      let last = 0;
      const r = await engine.exportModel({
        ...opts,
        force: overwrite,
        onProgress: (p) => {
          last = Math.max(last, exportFraction(p));
          onProgress({ fraction: last, stage: EXPORT_PHASE[p.phase] });
        },
      });
      return { files: r.files.length ? r.files : await listFiles(r.out), warnings: r.warnings };
    },

    templateNames() {
      return Object.keys(engine.NAMED_TEMPLATES);
    },

    checkLengths: (file, opts) => engine.checkLengths(file, opts),

    async review({ modelPath, adapterDir, n, maxTokens, onProgress }) {
      const r = await engine.reviewAdapter({ modelPath, adapterDir, n, maxTokens, onProgress });
      return { heldOutExamples: r.heldOutExamples, examplesFrom: r.examplesFrom, dataFile: r.dataFile, base: r.base, tuned: r.tuned, metric: r.metric, samples: r.samples.map(toReviewSample), average: r.average };
    },

    async serve({ modelPath, adapterDir, port, device, modelId }) {
      const s = await engine.startServer({ modelPath, adapterDir, port, device, modelId });
      return { url: s.url, port: s.port, modelId: s.modelId, close: () => s.close() };
    },
  };
}
