import type { CompositeRule } from '../rule.js';
export const lossComposites: CompositeRule[] = [];
