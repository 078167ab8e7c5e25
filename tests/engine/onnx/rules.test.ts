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

describe('gradient rules vs finite differences (float64)', () => {
  for (const rule of allRules()) {
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
          // The op under test really is in the graph (a case must not test something else).
          expect(result.graph.nodes.some((n) => n.op === rule.name)).toBe(true);
        });
      }
    });
  }
});

describe('composite gradients vs finite differences (float64)', () => {
  for (const rule of allComposites()) {
    describe(rule.name, () => {
      it('has gradcheck cases', () => expect(rule.cases.length).toBeGreaterThan(0));
      for (const c of rule.cases) {
        const name = caseName(rule, c);
        it(name, async () => {
          const seed = seedFor(name);
          const weights = rng(seed ^ 0x9e3779b9);
          const emit = c.emit ?? rule.emitForward;
          const result = await gradcheck((g, xs) => weightedSum(g, emit(g, xs), weights), c.shapes.map((shape, i) => ({
            shape,
            dims: c.dims?.[i],
            domain: c.domain?.[i] ?? rule.domain?.[i] ?? 'real',
          })), { seed, label: name, precision: c.precision });
          // The composite under test really is in the graph, with its fused gradient.
          expect(result.graph.nodes.some((n) => n.composite?.rule === rule.name)).toBe(true);
        });
      }
    });
  }
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
