/**
 * The layering is kept by machine: ESLint's layering rule (eslint/code-layering.js) and the
 * per-layer TypeScript projects each fail on a planted violation, and pass on a good import.
 */
import path from 'node:path';
import { ESLint } from 'eslint';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const eslint = new ESLint({ cwd: ROOT });

async function lint(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return result.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('ESLint layering rule', () => {
  it.each([
    ['src/engine/planted.ts', "import { app } from 'electron';\nexport const x = app;\n", 'src/engine may not import electron'],
    ['src/engine/train/planted.ts', "import { registerHandlers } from '../../main/handlers.js';\nexport const x = registerHandlers;\n", 'src/engine may not import src/main'],
    ['src/engine/planted.ts', "export const load = () => import('../renderer/src/api.js');\n", 'src/engine may not import src/renderer'],
    ['src/renderer/src/planted.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", 'src/renderer may not import Node built-ins'],
    ['src/renderer/src/steps/planted.ts', "import { loadModel } from '../../../engine/index.js';\nexport const x = loadModel;\n", 'src/renderer may not import src/engine'],
    ['src/renderer/src/planted.ts', "import type { TuneConfig } from '../../engine/index.js';\nexport type X = TuneConfig;\n", 'src/renderer may not import src/engine'],
    ['src/shared/planted.ts', "import path from 'node:path';\nexport const x = path.sep;\n", 'src/shared may not import Node built-ins'],
    ['src/shared/planted.ts', "import fs from 'fs';\nexport const x = fs;\n", 'src/shared may not import Node built-ins'],
    ['src/shared/planted.ts', "import { loadModel } from '../engine/index.js';\nexport const x = loadModel;\n", 'src/shared may not import src/engine'],
    ['src/cli/commands/planted.ts', "export const load = () => import('../../engine/train/trainer.js');\n", 'src/cli may not import engine internals'],
    ['src/cli/planted.ts', "import { ipcMain } from 'electron';\nexport const x = ipcMain;\n", 'src/cli may not import electron'],
    ['src/main/planted.ts', "import { App } from '../renderer/src/App.js';\nexport const x = App;\n", 'src/main may not import src/renderer'],
    ['src/main/planted.ts', "export * from '../cli/output.js';\n", 'src/main may not import src/cli'],
    ['src/preload/planted.ts', "import os from 'node:os';\nexport const x = os;\n", 'src/preload may not import Node built-ins'],
  ])('%s (case %#): a planted bad import fails', async (file, code, expected) => {
    const messages = await lint(file, code);
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.join('\n')).toContain(expected);
    expect(messages[0]).toMatch(/^local\/code-layering: /);
  });

  it('a wizard step may not import App.tsx', async () => {
    const messages = await lint('src/renderer/src/steps/Planted.tsx', "import type { StepId } from '../App.js';\nexport type X = StepId;\n");
    expect(messages.join('\n')).toContain('Steps must not import App.tsx');
  });

  it.each([
    ['src/engine/planted.ts', "import path from 'node:path';\nimport { DEVICE_LABELS } from '../shared/devices.js';\nexport const x = [path.sep, DEVICE_LABELS];\n"],
    ['src/renderer/src/planted.ts', "import { DEVICE_LABELS } from '../../shared/devices.js';\nimport { useState } from 'react';\nexport const x = [DEVICE_LABELS, useState];\n"],
    ['src/shared/planted.ts', "import { z } from 'zod';\nimport { DEVICE_NAMES } from './devices.js';\nexport const x = z.enum(DEVICE_NAMES);\n"],
    ['src/shared/planted.ts', "import type { TuneConfig } from '../engine/index.js';\nexport type X = TuneConfig;\n"],
    ['src/cli/commands/planted.ts', "import type { DataReport } from '../../engine/data/types.js';\nexport const load = () => import('../../engine/index.js');\nexport type X = DataReport;\n"],
    ['src/main/planted.ts', "import { app } from 'electron';\nimport * as engine from '../engine/index.js';\nexport const x = [app, engine];\n"],
    ['src/preload/planted.ts', "import { contextBridge } from 'electron';\nimport { calls } from '../shared/contract.js';\nexport const x = [contextBridge, calls];\n"],
  ])('%s: a good import passes', async (file, code) => {
    expect(await lint(file, code)).toEqual([]);
  });
});

describe('TypeScript project per layer', () => {
  /** Type errors of one planted file compiled with a project's options (tsconfig.<name>.json). */
  function typeErrors(project: string, file: string, code: string): string[] {
    const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, project), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(String(d.messageText)); } })!;
    const planted = path.join(ROOT, file);
    const host = ts.createCompilerHost(config.options);
    const read = host.getSourceFile.bind(host);
    host.getSourceFile = (name, lang, ...rest) => (path.resolve(name) === planted ? ts.createSourceFile(name, code, lang) : read(name, lang, ...rest));
    host.fileExists = ((exists) => (name: string) => path.resolve(name) === planted || exists(name))(host.fileExists.bind(host));
    const program = ts.createProgram([planted], config.options, host);
    return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  }

  // `npm test` lints and type-checks the whole repository before the tests; these plant violations.
  it('src/shared compiles without Node or DOM types (tsconfig.shared.json)', { timeout: 180_000 }, () => {
    expect(typeErrors('tsconfig.shared.json', 'src/shared/planted.ts', "import path from 'node:path';\nexport const x = path.sep;\n").join('\n')).toMatch(/Cannot find module 'node:path'/);
    expect(typeErrors('tsconfig.shared.json', 'src/shared/planted.ts', 'export const home = process.env.HOME;\n').join('\n')).toMatch(/Cannot find name 'process'/);
    expect(typeErrors('tsconfig.shared.json', 'src/shared/planted.ts', 'export const title = document.title;\n').join('\n')).toMatch(/Cannot find name 'document'/);
    expect(typeErrors('tsconfig.shared.json', 'src/shared/planted.ts', "import { DEVICE_NAMES } from './devices.js';\nexport const n: number = DEVICE_NAMES.length;\n")).toEqual([]);
  });

  it('the renderer compiles without Node types (tsconfig.web.json)', { timeout: 180_000 }, () => {
    expect(typeErrors('tsconfig.web.json', 'src/renderer/src/planted.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n").join('\n')).toMatch(/Cannot find module 'node:fs'/);
    expect(typeErrors('tsconfig.web.json', 'src/renderer/src/planted.ts', 'export const title: string = document.title;\n')).toEqual([]);
  });
});
