/**
 * The layering rule (modelled on VS Code's `code-layering`): the folder under src/ says which
 * runtime a file runs in, and so what it may import.
 *
 *   shared    common: runs in every process; no Node, DOM or Electron, no other layer
 *             (type-only imports of the engine's types are allowed: they vanish at run time)
 *   engine    node: shared and Node; never Electron, main, renderer, cli or preload
 *   cli       node: the engine through its entry points (src/engine/index.ts or an area's index.ts), shared, Node
 *   main      electron-main: like cli, plus Electron; never renderer or cli
 *   preload   electron-sandbox: Electron and shared only
 *   renderer  browser: shared only; no Node built-ins, no Electron, no engine
 *
 * Imports are resolved against the importing file, so `../../engine/x.js` and `../engine/x.js`
 * are judged by where they land. Dynamic `import()` and `export ... from` count too.
 */
import { builtinModules } from 'node:module';
import path from 'node:path';

/** @typedef {{ layers: string[], typeLayers?: string[], engineEntryOnly?: boolean, node: boolean, electron: boolean }} LayerRule */

/** @type {Record<string, LayerRule>} */
export const LAYERS = {
  shared: { layers: ['shared'], typeLayers: ['engine'], node: false, electron: false },
  engine: { layers: ['engine', 'shared'], node: true, electron: false },
  cli: { layers: ['cli', 'engine', 'shared'], engineEntryOnly: true, node: true, electron: false },
  main: { layers: ['main', 'engine', 'shared'], engineEntryOnly: true, node: true, electron: true },
  preload: { layers: ['preload', 'shared'], node: false, electron: true },
  renderer: { layers: ['renderer', 'shared'], node: false, electron: false },
};

const BUILTINS = new Set(builtinModules);
const isBuiltin = (spec) => spec.startsWith('node:') || BUILTINS.has(spec.split('/')[0]);
const isElectron = (spec) => spec === 'electron' || spec.startsWith('electron/');

/** src/<layer>/... of an absolute path under `root`, or undefined. */
function layerOf(root, file) {
  const rel = path.relative(root, file).split(path.sep);
  return rel[0] === 'src' && rel.length > 2 && LAYERS[rel[1]] ? rel[1] : undefined;
}

/** src/engine/index.ts or src/engine/<area>/index.ts (specifiers name them .js). */
function isEngineEntry(root, target) {
  const rel = path.relative(path.join(root, 'src', 'engine'), target).split(path.sep);
  const base = rel[rel.length - 1].replace(/\.(js|ts)$/, '');
  return base === 'index' && rel.length <= 2;
}

/** @type {import('eslint').Rule.RuleModule} */
export const codeLayering = {
  meta: {
    type: 'problem',
    docs: { description: 'the folder under src/ says which runtime a file runs in, and what it may import' },
    schema: [{ type: 'object', properties: { root: { type: 'string' } }, additionalProperties: false }],
    messages: {
      layer: '{{from}} may not import {{to}} ("{{spec}}"): {{why}}',
    },
  },
  create(context) {
    const root = context.options[0]?.root ?? context.cwd;
    const file = context.filename;
    const from = layerOf(root, file);
    if (!from) return {};
    const rule = LAYERS[from];

    function check(node, spec, typeOnly) {
      if (typeof spec !== 'string') return;
      const report = (to, why) => context.report({ node, messageId: 'layer', data: { from: `src/${from}`, to, spec, why } });
      if (isElectron(spec)) {
        if (!rule.electron) report('electron', `src/${from} never runs in Electron's processes`);
        return;
      }
      if (isBuiltin(spec)) {
        if (!rule.node) report('Node built-ins', `src/${from} does not run in Node`);
        return;
      }
      if (!spec.startsWith('.')) return; // an npm package
      const target = path.resolve(path.dirname(file), spec);
      const to = layerOf(root, target);
      if (!to || to === from) return;
      if (typeOnly && rule.typeLayers?.includes(to)) return;
      if (!rule.layers.includes(to)) {
        report(`src/${to}`, `src/${from} may import only ${rule.layers.map((l) => `src/${l}`).join(', ')}`);
        return;
      }
      if (to === 'engine' && rule.engineEntryOnly && !typeOnly && !isEngineEntry(root, target)) {
        report('engine internals', 'use src/engine/index.ts (or an area\'s index.ts); type-only imports may name any module');
      }
    }

    return {
      ImportDeclaration(node) {
        const typeOnly = node.importKind === 'type' || (node.specifiers.length > 0 && node.specifiers.every((s) => s.importKind === 'type'));
        check(node.source, node.source.value, typeOnly);
      },
      ExportNamedDeclaration(node) {
        if (node.source) check(node.source, node.source.value, node.exportKind === 'type');
      },
      ExportAllDeclaration(node) {
        check(node.source, node.source.value, node.exportKind === 'type');
      },
      ImportExpression(node) {
        if (node.source.type === 'Literal') check(node.source, node.source.value, false);
      },
    };
  },
};
