/**
 * The `attune tune` options, generated from the one settings table (src/shared/tune-settings.ts):
 * one `--<kebab-case name>` per setting with its help, default and choices, checked by the same
 * schema as the app. Older flag names (`--lr`, `--base-weights`, `--target`,
 * `--early-stopping-patience`) still work, hidden from the help.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { z } from 'zod';
import {
  defaultText, kebab, LEGACY_NAMES, readSetting, SETTINGS, withCurrentNames, type SettingName, type TuneSettingsInput,
} from '../shared/tune-settings.js';

/** Flags `attune tune` had before the settings were unified (read as today's names). */
const OLD_FLAGS = ['lr', 'baseWeights', 'target'] as const;

const PLACEHOLDER = { int: '<n>', number: '<x>', choice: '<choice>', text: '<text>', list: '<list>', tokens: '<value>', flag: '' } as const;

/** The allowed values of a choice setting. */
export function choicesOf(name: SettingName): string[] | undefined {
  let t: z.ZodType = SETTINGS[name].schema;
  while (t instanceof z.ZodDefault || t instanceof z.ZodOptional) t = t.unwrap() as z.ZodType;
  return t instanceof z.ZodEnum ? (t.options as string[]) : undefined;
}

function parser(name: SettingName) {
  return (text: string): unknown => {
    try {
      return readSetting(name, text);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

function option(flag: string, name: SettingName, help: string): Option {
  const e: { kind: keyof typeof PLACEHOLDER; placeholder?: string } = SETTINGS[name];
  if (e.kind === 'flag') return new Option(flag, help);
  const opt = new Option(`${flag} ${e.placeholder ?? PLACEHOLDER[e.kind]}`, help);
  const choices = choicesOf(name);
  return choices ? opt.choices(choices) : opt.argParser(parser(name));
}

/** Adds one option per setting (and the hidden older names) to `cmd`. */
export function addSettingOptions(cmd: Command): Command {
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const def = defaultText(name);
    cmd.addOption(option(`--${kebab(name)}`, name, def ? `${SETTINGS[name].help} (default: ${def})` : SETTINGS[name].help));
  }
  for (const old of OLD_FLAGS) cmd.addOption(option(`--${kebab(old)}`, LEGACY_NAMES[old], `older name of --${kebab(LEGACY_NAMES[old])}`).hideHelp());
  cmd.addOption(
    new Option('--early-stopping-patience <p>', 'older form of --early-stopping --patience P (0 = off)')
      .argParser((text: string) => {
        const n = Number(text);
        if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('Use a whole number of at least 0.');
        return n;
      })
      .hideHelp(),
  );
  return cmd;
}

/** The settings a person gave on the command line (older flag names read as the current ones). */
export function settingsFromOptions(opts: Record<string, unknown>): TuneSettingsInput {
  const given = withCurrentNames(Object.fromEntries(Object.entries(opts).filter(([k, v]) => v !== undefined && (k in SETTINGS || k in LEGACY_NAMES || k === 'earlyStoppingPatience'))));
  return given as TuneSettingsInput;
}
