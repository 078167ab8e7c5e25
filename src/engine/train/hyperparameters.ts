/**
 * The trainer's hyperparameters, derived from the one settings table (src/shared/tune-settings.ts):
 * the same names, defaults and checks as the app and the CLI, with the values the engine decides
 * itself filled in (alpha from the rank, every LoRA target, the base storage).
 */
import { AttuneError } from '../../shared/errors.js';
import {
  HYPERPARAMETER_NAMES, kebab, parseTuneSettings, SETTING_NAMES, SETTINGS, TUNE_DEFAULTS, withCurrentNames,
  type HyperparameterName, type TuneSettings, type TuneSettingsInput,
} from '../../shared/tune-settings.js';
import type { BaseStorage } from '../models/base-storage.js';
import { LORA_TARGETS, type LoraTarget } from '../models/lora-targets.js';
import { DEFAULT_PREFERENCE_BETA } from './losses/preference.js';
import { METHOD_DEFAULTS } from './preference-data.js';

export type TrainingHyperparameters = Omit<Pick<TuneSettings, HyperparameterName>, 'alpha' | 'targets' | 'baseStorage'> & {
  /** LoRA scale numerator (the update is scaled by alpha / rank). */
  alpha: number;
  targets: LoraTarget[];
  /** How the frozen base is stored: f32, or f16/int8/int4 to tune larger models in less memory. */
  baseStorage: BaseStorage;
};

function pick<T extends object, K extends keyof T>(obj: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

/** Settings the trainer reads, from parsed settings: alpha 2 x rank and every target unless chosen. */
export function hyperparametersOf(s: TuneSettings): TrainingHyperparameters {
  const targets = (s.targets ?? [...LORA_TARGETS]) as LoraTarget[];
  const bad = targets.filter((t) => !LORA_TARGETS.includes(t));
  if (bad.length) throw new AttuneError('tune.targets', { targets: bad.join(', '), choices: LORA_TARGETS.join(', ') }, { field: 'targets' });
  if (s.method === 'sft' && s.beta !== undefined) throw new AttuneError('tune.beta-without-method', {}, { field: 'beta' });
  if (s.method !== 'dpo' && s.rpoAlpha) throw new AttuneError('tune.rpo-alpha-without-dpo', {}, { field: 'rpo-alpha' });
  const beta = s.method === 'sft' ? undefined : (s.beta ?? DEFAULT_PREFERENCE_BETA[s.method]);
  return { ...pick(s, HYPERPARAMETER_NAMES), alpha: s.alpha ?? 2 * s.rank, targets, baseStorage: s.baseStorage ?? 'f32', ...(beta !== undefined ? { beta } : {}) };
}

export const DEFAULT_HYPERPARAMETERS: TrainingHyperparameters = hyperparametersOf(TUNE_DEFAULTS);

/**
 * Checks and completes tuning settings (any older names read too). Keys that are not settings
 * (model, data, out, ...) are ignored; a wrong value is refused in plain words naming the setting.
 */
export function resolveSettings(input: TuneSettingsInput | Record<string, unknown>): TuneSettings {
  const current = withMethodDefaults(withCurrentNames(input as Record<string, unknown>));
  const r = parseTuneSettings(pick(current, SETTING_NAMES as (keyof typeof current)[]));
  if (!r.ok) {
    const flag = `--${kebab(r.name)}`;
    throw new AttuneError('tune.setting-invalid', { setting: r.name in SETTINGS ? `${flag} (${SETTINGS[r.name as keyof typeof SETTINGS].help})` : flag, problem: r.message }, { field: kebab(r.name) });
  }
  return r.value;
}

/** A preference method's own defaults (METHOD_DEFAULTS) for the settings a person did not give. */
function withMethodDefaults(current: Record<string, unknown>): Record<string, unknown> {
  const method = current.method;
  if (method !== 'dpo' && method !== 'orpo') return current;
  const out = { ...current };
  for (const [k, v] of Object.entries(METHOD_DEFAULTS[method])) if (out[k] === undefined) out[k] = v;
  return out;
}

/** A run's saved hyperparameters (config.json, any version), read with today's names and defaults. */
export function readSavedHyperparameters(hp: unknown, file: string): TrainingHyperparameters {
  try {
    return hyperparametersOf(resolveSettings((hp ?? {}) as Record<string, unknown>));
  } catch (e) {
    if (e instanceof AttuneError) throw new AttuneError('tune.resume-settings-invalid', { file, detail: e.message }, { file, field: e.details.field });
    throw e;
  }
}
