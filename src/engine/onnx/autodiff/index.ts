/** Reverse-mode autodiff over ONNX graphs built with GraphBuilder, and the optimizer update. */
export { buildBackward, planBackward, type BackwardOptions, type BackwardPlan } from './backward.js';
export { adamW, clipByGlobalNorm, type AdamWOptions, type AdamWState } from './optimizer.js';
export { allEntries, allRules, lookup, registerNotDifferentiable, registerRule, registerZeroGradient, type RegistryEntry } from './registry.js';
export { allComposites } from './composites.js';
export type { CompositeRule, Domain, GradCase, GradRule, Vjp, VjpContext } from './rule.js';
