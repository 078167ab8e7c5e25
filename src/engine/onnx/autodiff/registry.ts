/**
 * The gradient registry: every op the driver may meet on a path from a parameter to the loss is
 * in exactly one of three states.
 *  - rule:              a vjp emits the input gradients;
 *  - zeroGradient:      the outputs do not depend differentiably on the inputs (shape queries,
 *                       comparisons, index arithmetic): the path is cut there, nothing is emitted;
 *  - notDifferentiable: reaching it is a bug in the model or the request, so the driver throws
 *                       with the reason (e.g. Floor: its derivative is zero almost everywhere,
 *                       which would silently freeze everything upstream).
 * An op in none of the three states also throws, naming the op and the node.
 *
 * Layout: rules sit in a few family tables (rules/elementwise, linalg, shape, reduce), each rule
 * next to a comment with its forward semantics, rather than one file per op: the families share
 * helpers and gradcheck batteries. Softmax's rule is the fused "D trick" form (it only needs the
 * output P).
 *
 * Composites (several forward nodes, one fused gradient carried by the node itself) are listed
 * in composites.ts with their cases; nothing looks them up here.
 */
import type { GradRule } from './rule.js';
import { elementwiseRules } from './rules/elementwise.js';
import { linalgRules } from './rules/linalg.js';
import { reduceRules } from './rules/reduce.js';
import { shapeRules } from './rules/shape.js';

export type RegistryEntry =
  | { kind: 'rule'; rule: GradRule }
  | { kind: 'zeroGradient'; reason: string }
  | { kind: 'notDifferentiable'; reason: string };

const entries = new Map<string, RegistryEntry>();

export function registerRule(rule: GradRule): void {
  if (entries.has(rule.name)) throw new Error(`autodiff: ${rule.name} registered twice`);
  entries.set(rule.name, { kind: 'rule', rule });
}

export function registerZeroGradient(ops: string[], reason: string): void {
  for (const op of ops) {
    if (entries.has(op)) throw new Error(`autodiff: ${op} registered twice`);
    entries.set(op, { kind: 'zeroGradient', reason });
  }
}

export function registerNotDifferentiable(ops: string[], reason: string): void {
  for (const op of ops) {
    if (entries.has(op)) throw new Error(`autodiff: ${op} registered twice`);
    entries.set(op, { kind: 'notDifferentiable', reason });
  }
}

/** The entry for an op of the default ONNX domain; undefined when there is none. */
export function lookup(op: string, domain = ''): RegistryEntry | undefined {
  if (domain !== '' && domain !== 'ai.onnx') return undefined;
  return entries.get(op);
}

export function allRules(): GradRule[] {
  return [...entries.values()].flatMap((e) => (e.kind === 'rule' ? [e.rule] : []));
}

export function allEntries(): ReadonlyMap<string, RegistryEntry> {
  return entries;
}

for (const rule of [...elementwiseRules, ...linalgRules, ...shapeRules, ...reduceRules]) registerRule(rule);

registerZeroGradient(
  ['Shape', 'Size', 'Range', 'ConstantOfShape', 'NonZero', 'ArgMax', 'ArgMin', 'EyeLike'],
  'produces shapes, indices or constants',
);
registerZeroGradient(
  ['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf'],
  'produces booleans',
);
registerNotDifferentiable(
  ['Floor', 'Ceil', 'Round', 'Sign', 'Mod'],
  'piecewise constant: its gradient is zero almost everywhere, which would silently stop training upstream; compute it from values that need no gradient',
);
registerNotDifferentiable(
  ['RandomNormal', 'RandomNormalLike', 'RandomUniform', 'RandomUniformLike', 'Multinomial', 'Dropout'],
  'random: no gradient rule (Attune does not train with dropout)',
);
