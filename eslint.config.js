/**
 * ESLint (flat config): the layering rule on src/ (eslint/code-layering.js) plus a few
 * correctness rules everywhere. `npm run lint`; `npm test` runs it before the tests.
 */
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { codeLayering } from './eslint/code-layering.js';

const root = import.meta.dirname;

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'coverage/**', '**/*.d.ts', 'bench/.work/**'] },
  {
    files: ['**/*.{ts,tsx,js,mjs}'],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 2023, sourceType: 'module' },
    plugins: { '@typescript-eslint': tseslint.plugin, local: { rules: { 'code-layering': codeLayering } } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Correctness only: what is almost always a bug.
      ...pick(js.configs.recommended.rules, [
        'no-dupe-keys', 'no-duplicate-case', 'no-self-assign', 'no-self-compare', 'no-unsafe-finally', 'no-unreachable',
        'no-cond-assign', 'no-constant-binary-expression', 'no-debugger', 'no-dupe-else-if', 'no-unsafe-negation', 'use-isnan',
        'valid-typeof', 'no-sparse-arrays', 'no-compare-neg-zero', 'no-empty-pattern', 'no-loss-of-precision',
      ]),
      'no-restricted-syntax': ['error', { selector: 'CallExpression[callee.name="eval"]', message: 'No eval.' }],
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none', caughtErrors: 'none', ignoreRestSiblings: true, varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-duplicate-enum-values': 'error',
      '@typescript-eslint/no-misused-new': 'error',
      '@typescript-eslint/no-unsafe-declaration-merging': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
    },
  },
  {
    files: ['src/**/*.{ts,tsx}'],
    rules: { 'local/code-layering': ['error', { root }] },
  },
  {
    // The wizard's steps get their props from steps/types.ts; App.tsx imports the steps, not the reverse.
    files: ['src/renderer/src/steps/**/*.{ts,tsx}'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)App(\\.js|\\.tsx?)?$', message: 'Steps must not import App.tsx; shared step types live in steps/types.ts.' }] }] },
  },
);

function pick(rules, names) {
  return Object.fromEntries(names.map((n) => [n, rules[n] ?? 'error']));
}
