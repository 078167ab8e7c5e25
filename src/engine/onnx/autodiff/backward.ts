/**
 * Reverse-mode autodiff over an ONNX graph, emitting the backward pass into the same graph.
 *
 * The driver owns the bookkeeping so rules stay tiny (STYLE habit 7):
 *  - it differentiates only what lies on a path from a `wrt` value to the loss: a forward node
 *    gets visited only if one of its outputs depends on a `wrt` value and the loss depends on
 *    that output, and a rule is asked only for the inputs that lie on such a path. A frozen
 *    weight therefore never gets a gradient (ORT's IsGradientRequiredForSrcNodeInput);
 *  - it sums fan-out (one Add, or one Sum for three or more contributions);
 *  - it reduces broadcast gradients to each input's shape (ReduceSum over the broadcast axes);
 *  - it names every backward value under the forward node it came from: `grad/blk.3.attn_q.da`.
 *
 * Nodes are visited in reverse of the graph's node order, which the builder keeps topological.
 */
import type { GraphBuilder } from '../builder.js';
import type { GraphNode, Value } from '../graph.js';
import { broadcastAxes, type Shape } from '../shape.js';
import { lookup } from './registry.js';
import { isFloat, isStatic, type GradRule, type VjpContext } from './rule.js';

export interface BackwardOptions {
  /** Values treated as constants: no gradient flows into or through them. */
  stopGradient?: Value[];
  /** Prefix of the backward value names (default 'grad'). */
  scope?: string;
  /** A `wrt` value the loss does not depend on: throw (default), or return zeros for it. */
  unconnected?: 'throw' | 'zeros';
}

export interface BackwardPlan {
  /** Forward nodes the backward pass visits, in forward order. */
  readonly nodes: GraphNode[];
  /** Names of the values that receive a gradient (on a path from a `wrt` value to the loss). */
  readonly active: ReadonlySet<string>;
}

/**
 * Which forward nodes and values the backward pass touches. Throws, naming op and node, if a
 * node on the path has no gradient rule or is marked not differentiable.
 */
/** What a node reads as far as gradients go: a composite's inputs, else its own. */
const gradInputs = (n: GraphNode): string[] => n.composite?.inputs ?? n.inputs;

export function planBackward(g: GraphBuilder, loss: Value, wrt: Value[], opts: BackwardOptions = {}): BackwardPlan {
  const nodes = g.nodes.slice();
  const stop = new Set((opts.stopGradient ?? []).map((v) => v.name));
  const dtypeOf = (name: string) => g.values.get(name)?.dtype;

  // Forward: values that depend (differentiably) on some wrt value.
  const dependent = new Set<string>();
  for (const w of wrt) {
    if (!isFloat(w.dtype)) throw new Error(`autodiff: cannot differentiate with respect to ${w.name} of dtype ${w.dtype}`);
    if (!stop.has(w.name)) dependent.add(w.name);
  }
  const produced = new Set<string>([...g.inputs.map((i) => i.name), ...g.initializers.keys()]);
  for (const n of nodes) {
    for (const i of n.inputs) {
      if (i && !produced.has(i)) throw new Error(`autodiff: node ${n.name} reads ${i} before it is produced (graph not topological)`);
    }
    n.outputs.forEach((o) => produced.add(o));
    if (!gradInputs(n).some((i) => dependent.has(i))) continue;
    if (!n.composite && lookup(n.op, n.domain)?.kind === 'zeroGradient') continue;
    for (const o of n.outputs) if (!stop.has(o) && isFloat(dtypeOf(o) ?? 'bool')) dependent.add(o);
  }

  // Backward: of those, the values the loss depends on.
  const active = new Set<string>();
  if (dependent.has(loss.name)) active.add(loss.name);
  const onPath: GraphNode[] = [];
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k];
    if (!n.outputs.some((o) => active.has(o)) || !gradInputs(n).some((i) => dependent.has(i))) continue;
    onPath.push(n);
    for (const i of gradInputs(n)) if (dependent.has(i)) active.add(i);
  }
  onPath.reverse();

  for (const n of onPath) {
    if (n.composite) continue;
    const entry = lookup(n.op, n.domain);
    const where = `node '${n.name}' (output '${n.outputs[0]}') on the path to the loss '${loss.name}'`;
    if (!entry) throw new Error(`autodiff: no gradient rule for op ${n.domain ? `${n.domain}.` : ''}${n.op}, needed at ${where}`);
    if (entry.kind === 'notDifferentiable') throw new Error(`autodiff: op ${n.op} is not differentiable (${entry.reason}), reached at ${where}`);
  }
  return { nodes: onPath, active };
}

/**
 * Appends the backward pass of scalar `loss` to `g` and returns d loss / d w for each `wrt`
 * value, keyed by its name. Gradients have the dtype and shape of their value.
 */
export function buildBackward(g: GraphBuilder, loss: Value, wrt: Value[], opts: BackwardOptions = {}): Map<string, Value> {
  if (!loss.shape || !isStatic(loss.shape) || loss.shape.some((d) => d !== 1)) {
    throw new Error(`autodiff: the loss ${loss.name} must be a scalar, got shape [${loss.shape}]`);
  }
  const plan = planBackward(g, loss, wrt, opts);
  const prefix = opts.scope ?? 'grad';
  const contributions = new Map<string, Value[]>();
  const add = (name: string, grad: Value) => (contributions.get(name) ?? contributions.set(name, []).get(name)!).push(grad);

  /** The total gradient of a value: its contributions summed, once. */
  const total = (name: string): Value | null => {
    const parts = contributions.get(name);
    if (!parts || parts.length === 0) return null;
    if (parts.length === 1) return parts[0];
    const sum = g.scope(`${prefix}/${name}`, () => g.sum(parts, 'sum'));
    contributions.set(name, [sum]);
    return sum;
  };

  if (plan.active.has(loss.name)) add(loss.name, g.constant(loss.dtype, loss.shape as number[], [1], 'one'));

  for (let k = plan.nodes.length - 1; k >= 0; k--) {
    const node = plan.nodes[k];
    const dys = node.outputs.map((o) => (plan.active.has(o) ? total(o) : null));
    if (dys.every((d) => d === null)) continue;
    const inputs = gradInputs(node).map((i) => (i ? g.value(i) : null));
    let grads: (Value | null)[];
    if (node.composite) {
      const composite = node.composite;
      grads = g.scope(`${prefix}/${node.outputs[0]}`, () => composite.vjp(g, dys[0]!, (i) => !!inputs[i] && plan.active.has(inputs[i]!.name)));
      if (grads.length !== inputs.length) throw new Error(`autodiff: the composite at '${node.name}' returned ${grads.length} gradients for ${inputs.length} inputs`);
    } else {
      const entry = lookup(node.op, node.domain);
      if (entry?.kind !== 'rule') throw new Error(`autodiff: internal: ${node.op} has no rule`); // planBackward checked
      const outputs = node.outputs.map((o) => g.value(o));
      grads = g.scope(`${prefix}/${node.outputs[0]}`, () => entry.rule.vjp(makeContext(g, node, inputs, outputs, dys, plan.active)));
      checkArity(entry.rule, node, grads);
    }
    g.scope(`${prefix}/${node.outputs[0]}`, () => {
      inputs.forEach((x, i) => {
        if (!x || !plan.active.has(x.name)) return;
        const grad = grads[i];
        if (!grad) {
          throw new Error(`autodiff: the ${node.composite ? 'composite' : node.op} rule gave no gradient for input ${i} ('${x.name}') of node '${node.name}', which lies on the path to the loss`);
        }
        if (grad.dtype !== x.dtype) throw new Error(`autodiff: ${node.op} rule at '${node.name}' gave a ${grad.dtype} gradient for ${x.dtype} input '${x.name}'`);
        add(x.name, unbroadcast(g, grad, x, node));
      });
    });
  }

  const result = new Map<string, Value>();
  for (const w of wrt) {
    const grad = total(w.name);
    if (grad) result.set(w.name, grad);
    else if (opts.unconnected === 'zeros') {
      result.set(w.name, g.scope(prefix, () => g.expand(g.scalar(0, w.dtype), isStatic(w.shape) ? g.ints(w.shape) : g.shapeOf(w), w.shape, `${w.name}.zeros`)));
    } else throw new Error(`autodiff: the loss ${loss.name} does not depend on ${w.name}`);
  }
  return result;
}

function makeContext(
  g: GraphBuilder,
  node: GraphNode,
  inputs: (Value | null)[],
  outputs: Value[],
  dys: (Value | null)[],
  active: ReadonlySet<string>,
): VjpContext {
  return {
    g,
    node,
    inputs,
    outputs,
    get dy(): Value {
      if (!dys[0]) throw new Error(`autodiff: ${node.op} rule at '${node.name}' read dy, but output 0 has no gradient`);
      return dys[0];
    },
    dys,
    needs: (i) => !!inputs[i] && active.has(inputs[i]!.name),
    attrInt: (name, fallback) => {
      const a = node.attrs[name];
      return a?.kind === 'int' ? a.value : fallback;
    },
    attrInts: (name) => {
      const a = node.attrs[name];
      return a?.kind === 'ints' ? a.value : undefined;
    },
    attrFloat: (name, fallback) => {
      const a = node.attrs[name];
      return a?.kind === 'float' ? a.value : fallback;
    },
    constInts: (i) => {
      const x = inputs[i];
      if (!x) return undefined;
      const init = g.initializers.get(x.name);
      if (!init || init.dtype !== 'int64') {
        throw new Error(`autodiff: ${node.op} rule at '${node.name}' needs input ${i} ('${x.name}') to be a constant int64 tensor`);
      }
      const b = init.bytes;
      return Array.from(new BigInt64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), Number);
    },
  };
}

function checkArity(rule: GradRule, node: GraphNode, grads: (Value | null)[]) {
  if (grads.length !== node.inputs.length) {
    throw new Error(`autodiff: the ${rule.name} rule returned ${grads.length} gradients for node '${node.name}' with ${node.inputs.length} inputs`);
  }
}

/** Sums `grad` over the axes along which `x` was broadcast, so that it has `x`'s shape. */
function unbroadcast(g: GraphBuilder, grad: Value, x: Value, node: GraphNode): Value {
  const xs = x.shape;
  const gs = grad.shape;
  if (!xs || !gs) throw new Error(`autodiff: unknown shape for '${x.name}' or its gradient at '${node.name}'; gradients need build-time shapes`);
  if (sameShape(xs, gs)) return grad;
  const lead = gs.length - xs.length;
  const fits = lead >= 0 && xs.every((d, i) => d === 1 || d === gs[i + lead] || typeof d === 'string' || typeof gs[i + lead] === 'string');
  if (!fits) throw new Error(`autodiff: ${node.op} rule at '${node.name}' gave a gradient of shape [${gs}] for '${x.name}' of shape [${xs}]`);
  const axes = broadcastAxes(xs, gs);
  const leadAxes = axes.filter((a) => a < lead);
  const inner = axes.filter((a) => a >= lead);
  const name = `d_${x.name.split('.').pop()}`;
  if (axes.length === 0) return grad;
  if (inner.length === 0) return g.reduceSum(grad, leadAxes, false, name);
  const kept = g.reduceSum(grad, axes, true, leadAxes.length ? `${name}_keep` : name);
  if (leadAxes.length === 0) return kept;
  return isStatic(xs) ? g.reshape(kept, xs, name) : g.squeeze(kept, leadAxes, name);
}

function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
