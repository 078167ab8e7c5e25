/**
 * The shape of a gradient rule, and the small helpers rules share.
 *
 * A rule is the reverse-mode derivative of one ONNX op: given the forward node and the
 * gradient of its output(s), it emits ONNX nodes computing the gradient of each input
 * (a vector-Jacobian product). Rules stay tiny because the driver (backward.ts) owns the
 * bookkeeping: it sums fan-out, reduces broadcast gradients to each input's shape, and asks
 * a rule only for the inputs that need a gradient (`ctx.needs(i)`).
 *
 * Next to each vjp sits what the gradient check needs to test it alone: an input `domain`
 * and `cases` (input shapes, and how to emit the forward op when `g.op(name, xs)` is not
 * enough). tests/engine/onnx/rules.test.ts walks every registered rule through them.
 *
 * A composite (`CompositeRule`) is the other kind of rule: a forward built from several
 * primitive nodes with one fused vjp (RMSNorm, SwiGLU, attention, the LoRA projections, the
 * token log-probabilities of the loss). Its forward and vjp sit side by side in one function
 * that model code calls; the entry names it and carries its gradcheck cases the same way.
 */
import type { GraphBuilder } from '../builder.js';
import type { AttrValue, GraphNode, Value } from '../graph.js';
import type { DType } from '../dtype.js';
import { numel, type Shape } from '../shape.js';

/** Where gradcheck draws an input from: 'real' ~ U(-2, 2), 'positive' ~ U(0.5, 2). */
export type Domain = 'real' | 'positive';

export interface VjpContext {
  readonly g: GraphBuilder;
  readonly node: GraphNode;
  /** Forward inputs; null where an optional input was omitted. */
  readonly inputs: (Value | null)[];
  readonly outputs: Value[];
  /** Gradient of output 0 (same shape as it). Multi-output rules read `dys`. */
  readonly dy: Value;
  /** Gradient of each output, null where that output receives none. */
  readonly dys: (Value | null)[];
  /** Whether input i lies on a path to the loss from a value we differentiate with respect to. */
  needs(i: number): boolean;
  attrInt(name: string, fallback: number): number;
  attrInts(name: string): number[] | undefined;
  attrFloat(name: string, fallback: number): number;
  /** Values of a constant int64 input (axes, starts, pads, ...); undefined if the input is omitted. */
  constInts(i: number): number[] | undefined;
}

/** Exactly one entry per forward input: the gradient, or null (not needed / not differentiable). */
export type Vjp = (ctx: VjpContext) => (Value | null)[];

/** One gradcheck case: shapes of the float inputs, and how to build the op from them. */
export interface GradCase {
  label?: string;
  shapes: number[][];
  /** Graph input shapes when they differ from `shapes`: symbolic names for some dims ('b', 't'). */
  dims?: (number | string)[][];
  /** Per input; defaults to the rule's domain, then 'real'. */
  domain?: Domain[];
  /** Forward op under test; defaults to the rule's emitForward, then `g.op(name, xs)`. */
  emit?: (g: GraphBuilder, xs: Value[]) => Value;
  /** The case computes in float32 somewhere (e.g. a Cast to float32): check with float32 tolerance. */
  precision?: 'float32';
}

export interface GradRule {
  /** ONNX op type (default domain). */
  readonly name: string;
  readonly vjp: Vjp;
  readonly domain?: Domain[];
  readonly emitForward?: (g: GraphBuilder, xs: Value[]) => Value;
  readonly cases: GradCase[];
}

/**
 * A composite op: forward nodes plus one fused gradient attached with `g.composite(..., name)`,
 * used instead of the primitives' rules because it saves time or keeps fewer activations alive.
 * `emitForward` builds it from a case's float inputs (constants such as a mask or a frozen
 * weight are made inside); the rule test checks that a node carrying this composite was built.
 */
export interface CompositeRule {
  readonly name: string;
  readonly domain?: Domain[];
  readonly emitForward: (g: GraphBuilder, xs: Value[]) => Value;
  readonly cases: GradCase[];
}

// ---------------------------------------------------------------- helpers for rules

export const isFloat = (t: DType) => t === 'float32' || t === 'float64' || t === 'float16' || t === 'bfloat16';

export function isStatic(shape: Shape | null): shape is number[] {
  return !!shape && shape.every((d) => typeof d === 'number');
}

/** Shape of `v` as an int64 vector: a constant when static, else a Shape node. */
export function shapeVector(g: GraphBuilder, v: Value): Value {
  return isStatic(v.shape) ? g.ints(v.shape) : g.shapeOf(v);
}

/** Zeros shaped like `v`, of `v`'s dtype. */
export function zerosLike(g: GraphBuilder, v: Value, name = 'zeros'): Value {
  return g.expand(g.scalar(0, v.dtype), shapeVector(g, v), v.shape, name);
}

/** Reshape `x` to the (static or symbolic) shape of `like`. */
export function reshapeLike(g: GraphBuilder, x: Value, like: Value, name = 'reshape'): Value {
  if (!like.shape) throw new Error(`reshapeLike: ${like.name} has no known shape`);
  return isStatic(like.shape) ? g.reshape(x, like.shape, name) : g.reshapeTo(x, g.shapeOf(like), like.shape, name);
}

/** Swaps the last two axes. */
export function transposeLast2(g: GraphBuilder, x: Value, name = 'transpose'): Value {
  const r = rank(x);
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return g.transpose(x, perm, name);
}

/** [d0, ..., dk, n] -> [d0*...*dk, n] (a symbolic product label when not static). */
export function flattenLead(g: GraphBuilder, x: Value, name = 'flatten'): Value {
  const s = x.shape!;
  const lead = s.slice(0, -1);
  const n = numel(lead);
  return g.reshape(x, [n ?? `(${lead.join('*')})`, s[s.length - 1]], name);
}

/** Nulls for inputs `from`.. (shape, axes and other non-differentiable operands, present or not). */
export function noGrad(ctx: VjpContext, from: number): null[] {
  return ctx.inputs.slice(from).map(() => null);
}

export function rank(v: Value): number {
  if (!v.shape) throw new Error(`value ${v.name} has no known rank`);
  return v.shape.length;
}

export const attrOf = (node: GraphNode, name: string): AttrValue | undefined => node.attrs[name];

/** Shorthand for `g.op(name, xs)` with the first output. */
export const emitDefault = (name: string) => (g: GraphBuilder, xs: Value[]) => g.op(name, xs)[0];

/** ORT's broadcast battery for binary elementwise ops. */
export const BROADCAST_BATTERY: number[][][] = [
  [[3, 4], [3, 4]],
  [[3, 4], [4]],
  [[3, 1], [1, 4]],
  [[2, 3, 4], [3, 1]],
  [[], [3, 4]],
  [[2, 3], []],
];
