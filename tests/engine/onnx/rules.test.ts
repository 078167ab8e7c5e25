/**
 * Every registered gradient rule and every composite's fused gradient, alone, against central
 * finite differences in float64 (gradcheck.ts). The cases live next to each rule (its `cases`:
 * input shapes, domain, forward).
 * Seeds are fixed per case so CI is reproducible; set GRADCHECK_SEED to explore other draws.
 */
import { describe, expect, it } from 'vitest';
import { allEntries, allRules } from '../../../src/engine/onnx/autodiff/registry.js';
import { allComposites } from '../../../src/engine/onnx/autodiff/composites.js';
import type { CompositeRule, GradCase, GradRule } from '../../../src/engine/onnx/autodiff/rule.js';
import type { GraphNode } from '../../../src/engine/onnx/graph.js';
import { gradcheck, rng, weightedSum } from './gradcheck.js';

const baseSeed = Number(process.env.GRADCHECK_SEED ?? 0);

function seedFor(text: string): number {
  let h = 2166136261;
  for (const c of text) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return (h ^ baseSeed) >>> 0;
}

function caseName(rule: GradRule | CompositeRule, c: GradCase): string {
  return `${rule.name} ${c.label ?? c.shapes.map((s) => `[${s}]`).join('x')}`;
}

/**
 * Each rule's cases as tests. `built` says whether the graph holds what is under test: a case
 * must not end up testing something else.
 */
function gradcheckCases(rules: (GradRule | CompositeRule)[], built: (n: GraphNode, rule: GradRule | CompositeRule) => boolean) {
  for (const rule of rules) {
    describe(rule.name, () => {
      it('has gradcheck cases', () => expect(rule.cases.length).toBeGreaterThan(0));
      for (const c of rule.cases) {
        const name = caseName(rule, c);
        it(name, async () => {
          const seed = seedFor(name);
          const weights = rng(seed ^ 0x9e3779b9);
          const emit = c.emit ?? rule.emitForward ?? ((g, xs) => g.op(rule.name, xs)[0]);
          const result = await gradcheck((g, xs) => weightedSum(g, emit(g, xs), weights), c.shapes.map((shape, i) => ({
            shape,
            dims: c.dims?.[i],
            domain: c.domain?.[i] ?? rule.domain?.[i] ?? 'real',
          })), { seed, label: name, precision: c.precision });
          expect(result.graph.nodes.some((n) => built(n, rule))).toBe(true);
        });
      }
    });
  }
}

describe('gradient rules vs finite differences (float64)', () => {
  // The op under test is in the graph.
  gradcheckCases(allRules(), (n, rule) => n.op === rule.name);
});

describe('composite gradients vs finite differences (float64)', () => {
  // A node carries the composite under test, with its fused gradient.
  gradcheckCases(allComposites(), (n, rule) => n.composite?.rule === rule.name);
});

describe('registry', () => {
  it('covers the ops the brief lists', () => {
    const needed = ['Add', 'Sub', 'Mul', 'Div', 'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Pow', 'Sigmoid', 'Tanh', 'Identity',
      'Cast', 'MatMul', 'Gemm', 'Reshape', 'Transpose', 'Concat', 'Slice', 'Gather', 'Unsqueeze', 'Squeeze', 'Expand',
      'ReduceSum', 'ReduceMean', 'ReduceMax', 'Softmax', 'LogSoftmax', 'Where', 'Max'];
    for (const op of needed) expect(allEntries().get(op)?.kind, op).toBe('rule');
    for (const op of ['Shape', 'Range', 'Equal', 'Greater', 'Less']) expect(allEntries().get(op)?.kind, op).toBe('zeroGradient');
  });
});
