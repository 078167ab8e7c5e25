/**
 * The one settings table: plain messages per field, older names read as today's, the CLI's tune
 * options generated from it, and the engine's configuration equal to the app's settings.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { calls } from '../../src/shared/contract.js';
import { ADVANCED_HELP, PRESETS } from '../../src/shared/presets.js';
import {
  checkSetting, defaultText, kebab, parseTuneSettings, readSetting, SETTING_NAMES, SETTINGS, TUNE_DEFAULTS, withCurrentNames, type SettingName,
} from '../../src/shared/tune-settings.js';
import { addSettingOptions, settingsFromOptions } from '../../src/cli/settings-options.js';
import { toTuneConfig } from '../../src/main/engine-facade.js';
import type { TuneJobSpec } from '../../src/main/engine.js';
import { DEFAULT_HYPERPARAMETERS, hyperparametersOf, resolveSettings } from '../../src/engine/train/hyperparameters.js';
import { readRunConfig } from '../../src/engine/train/tune.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');

describe('checking one setting', () => {
  it('says what is wrong in plain words', () => {
    expect(checkSetting('epochs', 0)).toBe('Use a whole number of at least 1.');
    expect(checkSetting('epochs', 2.5)).toBe('Use a whole number.');
    expect(checkSetting('epochs', 'three')).toBe('Use a number.');
    expect(checkSetting('rank', 512)).toBe('Use a whole number of at most 256.');
    expect(checkSetting('learningRate', 0)).toBe('Use a number above 0.');
    expect(checkSetting('learningRate', Number.NaN)).toBe('Use a number.');
    expect(checkSetting('baseStorage', 'int3')).toBe('Choose one of: f32, f16, int8, int4.');
    expect(checkSetting('earlyStopping', 'yes')).toBe('Choose yes or no.');
    expect(checkSetting('template', '../x')).toBe('Not a template name.');
    expect(checkSetting('trainTokens', [-1])).toBeTypeOf('string');
    for (const ok of [['epochs', 3], ['learningRate', 1e-4], ['baseStorage', 'int4'], ['trainTokens', [2, 3]], ['maxSteps', undefined]] as const) expect(checkSetting(ok[0], ok[1]), ok[0]).toBeUndefined();
  });

  it('reads a value typed as text by its kind', () => {
    expect(readSetting('epochs', ' 4 ')).toBe(4);
    expect(readSetting('learningRate', '2e-3')).toBe(2e-3);
    expect(readSetting('targets', 'q, v')).toEqual(['q', 'v']);
    expect(readSetting('trainTokens', 'none')).toBe('none');
    expect(readSetting('trainTokens', '2,5')).toEqual([2, 5]);
    expect(() => readSetting('trainTokens', '2,x')).toThrow('Use auto, none, or a comma-separated list of token ids.');
    expect(() => readSetting('rank', '')).toThrow('Use a number.');
    expect(() => readSetting('batchSize', '1.5')).toThrow('Use a whole number.');
  });

  it('refuses whole settings naming the first wrong one, and unknown names', () => {
    expect(parseTuneSettings({ rank: 0 })).toEqual({ ok: false, name: 'rank', message: 'Use a whole number of at least 1.' });
    expect(parseTuneSettings({ rnak: 8 })).toEqual({ ok: false, name: 'rnak', message: 'There is no tuning setting called “rnak”.' });
    const r = parseTuneSettings({});
    expect(r.ok && r.value).toEqual(TUNE_DEFAULTS);
  });
});

describe('older names', () => {
  it('read as the settings’ one names; a later key wins, as in a spread', () => {
    expect(withCurrentNames({ lr: 1e-3, baseWeights: 'int4', saveActivationMemory: true, target: ['q'], model: '/m' })).toEqual({
      learningRate: 1e-3, baseStorage: 'int4', recomputeActivations: true, targets: ['q'], model: '/m',
    });
    expect(withCurrentNames({ baseStorage: 'f32', baseWeights: 'int8' })).toEqual({ baseStorage: 'int8' });
    expect(withCurrentNames({ baseWeights: 'int8', baseStorage: 'f32' })).toEqual({ baseStorage: 'f32' });
    expect(withCurrentNames({ earlyStoppingPatience: 2 })).toEqual({ earlyStopping: true, patience: 2 });
    expect(withCurrentNames({ earlyStoppingPatience: 0 })).toEqual({ earlyStopping: false });
  });

  it('are accepted by the app’s request and checked like the current ones', () => {
    const start = calls['tune.start'].request;
    const parsed = start.parse({ project: 'p', modelPath: '/m', preset: 'quick', advanced: { lr: 1e-3, baseWeights: 'int8' } });
    expect(parsed.advanced).toEqual({ learningRate: 1e-3, baseStorage: 'int8' });
    expect(start.safeParse({ project: 'p', modelPath: '/m', preset: 'quick', advanced: { lr: 0 } }).success).toBe(false);
  });

  describe('an old run’s config.json', () => {
    let dir = '';
    afterEach(() => rm(dir, { recursive: true, force: true }));
    it('reads with today’s names (version 1: lr, earlyStoppingPatience, no base storage)', async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'attune-config-'));
      const file = path.join(dir, 'config.json');
      const v1hp = {
        epochs: 2, lr: 0.003, lrSchedule: 'linear', warmupSteps: 1, weightDecay: 0, rank: 4, alpha: 8, loraDropout: 0, targets: ['q', 'v'], batchSize: 2, gradAccum: 1,
        maxLength: 64, seed: 7, maxGradNorm: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, evalEvery: 2, earlyStoppingPatience: 2, checkpointMinutes: 5,
      };
      await writeFile(file, JSON.stringify({ version: 1, model: '/m', data: '/d.jsonl', valFraction: 0.2, device: 'cpu', trainTokens: 'none', hp: v1hp }));
      const saved = await readRunConfig(file);
      expect(saved).toMatchObject({ version: 2, model: '/m', valFraction: 0.2, device: 'cpu', trainTokens: 'none' });
      expect(saved.hp).toMatchObject({ learningRate: 0.003, lrSchedule: 'linear', earlyStopping: true, patience: 2, baseStorage: 'f32', recomputeActivations: false, targets: ['q', 'v'], alpha: 8 });
      expect(saved.hp).not.toHaveProperty('lr');
      await writeFile(file, JSON.stringify({ version: 1, model: '/m', data: '/d.jsonl', hp: { ...v1hp, rank: 0 } }));
      await expect(readRunConfig(file)).rejects.toMatchObject({ code: 'tune-resume-invalid', message: expect.stringContaining('Use a whole number of at least 1.') });
    });
  });
});

describe('the CLI’s tune options', () => {
  const help = (cmd: Command) => cmd.helpInformation({ error: false }).replace(/\s+/g, ' ');

  it('has one --kebab-case option per setting, with its help and default', () => {
    const text = help(addSettingOptions(new Command('tune')));
    for (const name of SETTING_NAMES) {
      expect(text, name).toContain(`--${kebab(name)}`);
      expect(text, name).toContain(SETTINGS[name].help);
      const def = defaultText(name);
      if (def) expect(text, name).toContain(`(default: ${def})`);
    }
    expect(text).toContain('--learning-rate <x> peak learning rate (default: 0.0002)');
    // Older names work but are not advertised.
    expect(text).not.toMatch(/--lr <|--target <|--base-weights|--early-stopping-patience/);
  });

  it('shows a setting added to the table, with its default', () => {
    const table = SETTINGS as unknown as Record<string, unknown>;
    table.warmupRatio = { schema: z.number().min(0).max(1).default(0.05), kind: 'number', help: 'share of steps spent warming up' };
    try {
      expect(help(addSettingOptions(new Command('tune')))).toContain('--warmup-ratio <x> share of steps spent warming up (default: 0.05)');
    } finally {
      delete table.warmupRatio;
    }
  });

  it('parses flags, older names included, into settings', async () => {
    const cmd = addSettingOptions(new Command('tune').exitOverride());
    cmd.parse(['--lr', '2e-3', '--base-weights', 'int8', '--target', 'q,v', '--early-stopping-patience', '2', '--epochs', '2', '--recompute-activations'], { from: 'user' });
    expect(settingsFromOptions(cmd.opts())).toEqual({ learningRate: 2e-3, baseStorage: 'int8', targets: ['q', 'v'], earlyStopping: true, patience: 2, epochs: 2, recomputeActivations: true });
    const bad = addSettingOptions(new Command('tune').exitOverride().configureOutput({ writeErr: () => {} }));
    expect(() => bad.parse(['--rank', '0'], { from: 'user' })).toThrow(/Use a whole number of at least 1\./);
  });

  it('are what `attune tune --help` prints', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/attune.mjs', 'tune', '--help'], { cwd: repoRoot });
    const text = stdout.replace(/\s+/g, ' ');
    for (const name of SETTING_NAMES) expect(text, name).toContain(`--${kebab(name)}`);
    expect(text).toContain('--epochs <n> passes over the data (default: 3)');
  });
});

describe('the engine’s settings', () => {
  it('are the app’s settings under the same names', () => {
    const settings = { ...PRESETS.balanced.values, learningRate: 5e-4, baseStorage: 'int4' as const, recomputeActivations: true, earlyStopping: true, patience: 4, device: 'cpu' as const };
    const spec: TuneJobSpec = { modelPath: '/m', dataFile: '/d.jsonl', runDir: '/r', valFraction: 0.1, settings, template: 'chatml', evalEvery: 7 };
    const engine = resolveSettings(toTuneConfig(spec));
    for (const k of Object.keys(settings) as (keyof typeof settings)[]) {
      if (k === 'template' || k === 'evalEvery') continue; // resolved by main (the named template, the interval)
      expect(engine[k as SettingName], k).toEqual(settings[k]);
    }
    expect(engine).toMatchObject({ template: 'chatml', evalEvery: 7 });
    expect(hyperparametersOf(engine)).toMatchObject({ learningRate: 5e-4, alpha: 2 * settings.rank, baseStorage: 'int4', earlyStopping: true, patience: 4 });
  });

  it('default to the table’s defaults, with alpha, targets and storage filled in', () => {
    expect(DEFAULT_HYPERPARAMETERS).toMatchObject({ epochs: TUNE_DEFAULTS.epochs, learningRate: TUNE_DEFAULTS.learningRate, rank: 16, alpha: 32, baseStorage: 'f32' });
    expect(DEFAULT_HYPERPARAMETERS.targets).toEqual(['q', 'k', 'v', 'o', 'gate', 'up', 'down']);
  });

  it('refuse a wrong value naming the flag', () => {
    expect(() => resolveSettings({ loraDropout: 0.95 })).toThrow('The setting --lora-dropout (LoRA dropout (0 = off)): Use a number of at most 0.9.');
  });

  it('explain every advanced setting of the app from the table', () => {
    for (const [k, text] of Object.entries(ADVANCED_HELP)) expect(text, k).toBe(SETTINGS[k as SettingName].explain ?? SETTINGS[k as SettingName].help);
  });
});
