/** The Tune step's form: a preset, the advanced settings (checked as they are typed), early stopping. */
import { advanced as advancedSchema, type Advanced, type ModelInfo, type PresetName } from '../../../../shared/contract.js';
import { DEVICE_LABELS, DEVICE_NAMES } from '../../../../shared/devices.js';
import { ADVANCED_HELP, CHECKS_PER_RUN, estimateSteps, PRESETS, resolveEvalEvery, TEMPLATE_TITLES } from '../../../../shared/presets.js';
import { z } from 'zod';
import { PREFERENCE_DEFAULTS } from '../../../../shared/tune-settings.js';
import { NumberField } from '../../components/NumberField.js';
import { plural } from '../../format.js';
import { untrainedTokensText } from '../../explain.js';

type NumberKey = 'rank' | 'learningRate' | 'epochs' | 'batchSize' | 'maxLength' | 'seed' | 'evalEvery' | 'patience';

export const NUMBER_FIELDS: { key: NumberKey; label: string; step: number }[] = [
  { key: 'rank', label: 'Rank', step: 1 },
  { key: 'learningRate', label: 'Learning rate', step: 0.00001 },
  { key: 'epochs', label: 'Epochs', step: 1 },
  { key: 'batchSize', label: 'Batch size', step: 1 },
  { key: 'maxLength', label: 'Max length (tokens)', step: 16 },
  { key: 'seed', label: 'Seed', step: 1 },
];

/** The first setting the main process would refuse, in the same words; undefined when all are fine. */
export function settingsProblem(a: Advanced): string | undefined {
  const r = advancedSchema.safeParse(a);
  return r.success ? undefined : 'Fix the settings marked in red first.';
}

/** An optional setting's schema for its field: an empty field (NaN) means "the usual value". */
const optionalField = (schema: z.ZodType) => z.preprocess((v) => (typeof v === 'number' && Number.isNaN(v) ? undefined : v), schema);
const BETA_FIELD = optionalField(advancedSchema.shape.beta);
const RPO_FIELD = optionalField(advancedSchema.shape.rpoAlpha);

/** What the model learns from, in plain words. */
export const METHOD_TITLES: Record<Advanced['method'], string> = {
  sft: 'Your answers (instruction tuning)',
  dpo: 'Learn from corrections (preference tuning, DPO): better answers over worse ones',
  orpo: 'Learn from corrections (preference tuning, ORPO): answers and preferences at once',
};

export function TuneSettings(p: {
  preset: PresetName;
  advanced: Advanced;
  model?: ModelInfo;
  templates: string[];
  /** Examples to learn from and held-out examples of the imported data. */
  data?: { train: number; val: number };
  onPreset: (p: PresetName) => void;
  onChange: (patch: Partial<Advanced>) => void;
}) {
  const { advanced, onChange: set } = p;
  const trainExamples = p.data?.train;
  const valid = (n: number) => Number.isFinite(n) && n > 0;
  const plannedSteps = trainExamples && valid(advanced.batchSize) && valid(advanced.epochs) ? estimateSteps(trainExamples, advanced.batchSize, advanced.epochs) : undefined;
  const plannedEvalEvery = plannedSteps && Number.isFinite(advanced.evalEvery) ? resolveEvalEvery(advanced.evalEvery, plannedSteps) : undefined;
  const untrained = p.model?.untrainedTokens?.length ? untrainedTokensText(p.model.untrainedTokens, p.model.stopTokens) : undefined;
  const templateChoices = [...(p.model?.hasChatTemplate === false ? [] : ['model']), ...p.templates];
  const noHeldOut = p.data !== undefined && p.data.val === 0;
  const field = (key: NumberKey, label: string, step: number, help: React.ReactNode, disabled?: boolean) => (
    <NumberField
      key={key}
      id={`adv-${key}`}
      label={label}
      help={help}
      value={advanced[key]}
      step={step}
      schema={advancedSchema.shape[key]}
      disabled={disabled}
      onChange={(v) => set({ [key]: v })}
    />
  );

  return (
    <>
      <h2 id="settings-h" tabIndex={-1}>How thoroughly</h2>
      <fieldset className="presets">
        <legend className="sr-only">Preset</legend>
        {Object.values(PRESETS).map((x) => (
          <label key={x.name} className={`card preset ${p.preset === x.name ? 'selected' : ''}`}>
            <input type="radio" name="preset" value={x.name} checked={p.preset === x.name} onChange={() => p.onPreset(x.name)} />
            <strong>{x.title}</strong>
            <span>{x.explanation}</span>
          </label>
        ))}
      </fieldset>
      <details>
        <summary>Advanced settings</summary>
        <div className="grid">
          {NUMBER_FIELDS.map((f) => field(f.key, f.label, f.step, ADVANCED_HELP[f.key]))}
          <div className="field">
            <label htmlFor="adv-method">What it learns from</label>
            <select
              id="adv-method"
              value={advanced.method}
              aria-describedby="adv-method-help"
              onChange={(e) => {
                const method = e.target.value as Advanced['method'];
                // Each preference method comes with the learning rate and passes that work for it; the person can change them.
                set({ method, ...(method === 'sft' ? { beta: undefined, rpoAlpha: undefined } : PREFERENCE_DEFAULTS[method]), ...(method !== 'dpo' ? { rpoAlpha: undefined } : {}) });
              }}
            >
              {(Object.keys(METHOD_TITLES) as Advanced['method'][]).map((m) => (
                <option key={m} value={m}>
                  {METHOD_TITLES[m]}
                </option>
              ))}
            </select>
            <small id="adv-method-help">
              {ADVANCED_HELP.method} Preference tuning needs examples that hold a better and a worse answer (&ldquo;chosen&rdquo; and &ldquo;rejected&rdquo;); the
              corrections you make in the Chat step are saved that way too.
              {advanced.method !== 'sft' && ` Choosing it set the learning rate to ${PREFERENCE_DEFAULTS[advanced.method].learningRate} and the epochs to ${PREFERENCE_DEFAULTS[advanced.method].epochs}, which work for it.`}
            </small>
          </div>
          {advanced.method !== 'sft' && (
            <NumberField
              id="adv-beta"
              label="Strength of the preference (beta)"
              help={ADVANCED_HELP.beta}
              value={advanced.beta ?? Number.NaN}
              step={0.05}
              schema={BETA_FIELD}
              onChange={(v) => set({ beta: Number.isNaN(v) ? undefined : v })}
            />
          )}
          {advanced.method === 'dpo' && (
            <NumberField
              id="adv-rpo"
              label="Also learn the better answers (weight)"
              help={ADVANCED_HELP.rpoAlpha}
              value={advanced.rpoAlpha ?? Number.NaN}
              step={0.5}
              schema={RPO_FIELD}
              onChange={(v) => set({ rpoAlpha: Number.isNaN(v) ? undefined : v })}
            />
          )}
          <div className="field">
            <label htmlFor="adv-device">Device</label>
            <select id="adv-device" value={advanced.device} aria-describedby="adv-device-help" onChange={(e) => set({ device: e.target.value as Advanced['device'] })}>
              <option value="auto">Automatic</option>
              {DEVICE_NAMES.map((d) => (
                <option key={d} value={d}>
                  {DEVICE_LABELS[d]}
                </option>
              ))}
            </select>
            <small id="adv-device-help">{ADVANCED_HELP.device}</small>
          </div>
          <div className="field">
            <label htmlFor="adv-template">Chat template</label>
            <select id="adv-template" value={advanced.template} aria-describedby="adv-template-help" onChange={(e) => set({ template: e.target.value })}>
              {templateChoices.map((t) => (
                <option key={t} value={t}>
                  {TEMPLATE_TITLES[t] ?? t}
                </option>
              ))}
            </select>
            <small id="adv-template-help">{ADVANCED_HELP.template}</small>
          </div>
          <div className="field">
            <label>
              <input type="checkbox" checked={advanced.trainTokens === 'auto'} aria-describedby="adv-tokens-help" onChange={(e) => set({ trainTokens: e.target.checked ? 'auto' : 'none' })} /> Also teach untrained
              tokens
            </label>
            <small id="adv-tokens-help">
              {ADVANCED_HELP.trainTokens}
              {untrained && advanced.template === 'model' ? ` ${untrained}` : ''}
            </small>
          </div>
          <div className="field">
            <label htmlFor="adv-base-weights">Base model in memory</label>
            <select id="adv-base-weights" value={advanced.baseStorage} aria-describedby="adv-base-weights-help" onChange={(e) => set({ baseStorage: e.target.value as Advanced['baseStorage'] })}>
              <option value="f32">Exact (most memory)</option>
              <option value="f16">Half size</option>
              <option value="int8">Quarter size</option>
              <option value="int4">Eighth size (least memory)</option>
            </select>
            <small id="adv-base-weights-help">{ADVANCED_HELP.baseStorage}</small>
          </div>
          <div className="field">
            <label>
              <input type="checkbox" checked={advanced.recomputeActivations} aria-describedby="adv-activations-help" onChange={(e) => set({ recomputeActivations: e.target.checked })} /> Save memory while
              learning (slower)
            </label>
            <small id="adv-activations-help">{ADVANCED_HELP.recomputeActivations}</small>
          </div>
        </div>
        <fieldset className="card" aria-describedby="early-help">
          <legend>Early stopping</legend>
          <label>
            <input type="checkbox" checked={advanced.earlyStopping && !noHeldOut} disabled={noHeldOut} onChange={(e) => set({ earlyStopping: e.target.checked })} /> Stop when the answers to held-out examples
            stop improving
          </label>
          <p id="early-help" className="muted" data-testid="early-stopping-help">
            {noHeldOut
              ? 'You kept no held-out examples in the Data step, so Attune cannot check the answers while it learns: early stopping is off, and every step runs. To use it, keep a share of your examples aside in the Data step.'
              : earlyStoppingText(advanced, trainExamples, plannedSteps, plannedEvalEvery)}
          </p>
          <div className="grid">
            {field('evalEvery', 'Check every (steps)', 1, ADVANCED_HELP.evalEvery, noHeldOut)}
            {field('patience', 'Patience (checks)', 1, ADVANCED_HELP.patience, noHeldOut || !advanced.earlyStopping)}
          </div>
        </fieldset>
      </details>
    </>
  );
}

function earlyStoppingText(a: Advanced, trainExamples: number | undefined, plannedSteps: number | undefined, evalEvery: number | undefined): string {
  const base = ADVANCED_HELP.earlyStopping;
  if (!trainExamples || !plannedSteps || !evalEvery) return base;
  const checks = Math.max(1, Math.round(plannedSteps / evalEvery));
  if (!a.earlyStopping) return `${base} Early stopping is off: all ${plural(plannedSteps, 'step')} run, with a check every ${plural(evalEvery, 'step')}; Attune still keeps the best version.`;
  const patience = Number.isFinite(a.patience) ? ` and stops after ${plural(a.patience, 'check')} in a row without improvement` : '';
  return `${base} With ${plural(trainExamples, 'example')} to learn from, this run takes about ${plural(plannedSteps, 'step')}: Attune checks every ${plural(evalEvery, 'step')} (about ${plural(checks, 'check')}${a.evalEvery === 0 ? `, chosen to give about ${CHECKS_PER_RUN}` : ''})${patience}.`;
}
