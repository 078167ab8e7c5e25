/**
 * A small ONNX graph-building API. Model code calls `g.matMul(x, w)`; the builder records
 * nodes, tracks dtype and (possibly symbolic) shape of every value, and names every value
 * with the scope it was built in (e.g. `blk.3.attn_q`), so any intermediate can be exposed
 * as an output when debugging a divergence layer by layer.
 *
 * Shapes are tracked at build time because reverse-mode autodiff needs them to reduce
 * broadcast gradients; symbolic dims are strings ('batch', 'seq'): equal strings are equal dims.
 */
import { broadcastShapes, type Dim, type Shape } from './shape.js';
import type { DType } from './dtype.js';

export type { Dim, Shape };
export type { DType };

export interface Value {
  readonly name: string;
  readonly dtype: DType;
  /** null when the builder cannot know it (e.g. Reshape to a runtime shape). */
  readonly shape: Shape | null;
}

export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'string'; value: string };

export interface GraphNode {
  readonly name: string;
  readonly op: string;
  readonly domain: string;
  readonly inputs: string[];
  readonly outputs: string[];
  readonly attrs: Record<string, AttrValue>;
  /** A composite's own gradient (see `Graph.composite`); autodiff uses it instead of the op's rule. */
  readonly composite?: CompositeGradient;
}

/**
 * The gradient of a composite built from several nodes, attached to the node that produces its
 * output. Autodiff treats that node as a function of `inputs` alone (the values the composite
 * was built from) and calls `vjp`, which returns one gradient (or null) per input; the
 * composite's inner nodes get no gradient. This is how fused rules (RMSNorm, SiLU, LoRA
 * projection with a merged weight) save both time and activation memory. They all live in
 * autodiff/rules, each registered with its gradcheck cases (`CompositeRule`).
 */
export interface CompositeGradient {
  /** The composite's rule (autodiff/rules, registered with its gradcheck cases): 'RmsNorm', ... */
  rule: string;
  inputs: string[];
  vjp: (g: import('./builder.js').GraphBuilder, dy: Value, needs: (i: number) => boolean) => (Value | null)[];
}

/** Raw little-endian bytes of a tensor, kept as a view (weights are never copied here). */
export interface Initializer {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: number[];
  /** The values' bytes; a deferred initializer has none until the file is written (`fill`). */
  readonly bytes: Uint8Array;
  /**
   * A deferred initializer (float32 only): writes its values into `out` when the model file is
   * written, using `scratch` as it likes, so a large frozen weight is read from disk then instead
   * of being held while the graph is built.
   */
  readonly fill?: (out: Float32Array, scratch: FillScratch) => void;
}

/** A buffer a deferred initializer may reuse from one to the next (see Initializer.fill). */
export interface FillScratch {
  bytes?: Uint8Array;
}

export interface GraphIO {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export const attr = {
  int: (value: number): AttrValue => ({ kind: 'int', value }),
  float: (value: number): AttrValue => ({ kind: 'float', value }),
  ints: (value: number[]): AttrValue => ({ kind: 'ints', value }),
  floats: (value: number[]): AttrValue => ({ kind: 'floats', value }),
  string: (value: string): AttrValue => ({ kind: 'string', value }),
};

export class Graph {
  readonly nodes: GraphNode[] = [];
  readonly initializers = new Map<string, Initializer>();
  readonly inputs: GraphIO[] = [];
  readonly outputs: GraphIO[] = [];
  readonly values = new Map<string, Value>();
  /** Opsets this graph imports besides the default domain. */
  readonly opsets = new Map<string, number>([['', 21]]);
  /**
   * Declare inputs with a symbolic dimension (batch, sequence) without a shape in the model file.
   * ORT's allocation planner compares the shape of every freed buffer with that of every new
   * output (FindReusableTensor), which is quadratic in the nodes, with a costly step per pair;
   * values of unknown shape skip it and are recycled by the memory arena at run time instead. For
   * the 7,513-node training step of a 30-layer model the planner took 16.6 s of a 17 s session
   * start; unshaped, 2.6 s of 3.8 s, with the same peak memory (2.77 GB) and a smaller optimised
   * graph (6,812 nodes instead of 6,932: more transposes fused into matrix products).
   */
  unshapedDynamicInputs = false;
  /**
   * Symbolic dims the builder is sure of (each name one size at run time): the model file then
   * declares the shape of every intermediate value whose dims are all numbers or these names.
   * ORT's own inference leaves a product's row count unknown ([?, 576]); such values each scan the
   * whole list of freed buffers in the allocation planner and never match one, so the list only
   * grows. Declared alike, they match and reuse: the 30-layer training step's session started in
   * 1.4 s instead of 3.3 s. A name used for two sizes within one run fails it loudly ("Shape
   * mismatch attempting to re-use buffer"), so only names of one size per run belong here (the
   * loss chunks, of unequal rows, are named one by one: lossChunkDim).
   */
  declaredValueDims: readonly string[] = [];
  private scopeStack: string[] = [];
  private counter = 0;

  constructor(readonly name = 'attune') {}

  // ---------------------------------------------------------------- naming and scopes

  /** Runs `fn` with every new value named under `scope` (e.g. `blk.3`). */
  scope<T>(scope: string, fn: () => T): T {
    this.scopeStack.push(scope);
    try {
      return fn();
    } finally {
      this.scopeStack.pop();
    }
  }

  /** A fresh value name under the current scope: `blk.3.attn_q`, `blk.3.attn_q_1`, ... */
  freshName(base: string): string {
    const prefix = this.scopeStack.length ? `${this.scopeStack.join('.')}.` : '';
    let name = `${prefix}${base}`;
    while (this.values.has(name) || this.initializers.has(name)) name = `${prefix}${base}_${++this.counter}`;
    return name;
  }

  value(name: string): Value {
    const v = this.values.get(name);
    if (!v) throw new Error(`graph ${this.name}: no value named ${name}`);
    return v;
  }

  // ---------------------------------------------------------------- inputs, outputs, weights

  input(name: string, dtype: DType, shape: Shape): Value {
    if (this.values.has(name)) throw new Error(`graph ${this.name}: input ${name} already defined`);
    const v: Value = { name, dtype, shape };
    this.values.set(name, v);
    this.inputs.push({ name, dtype, shape });
    return v;
  }

  /**
   * Lists an initializer among the graph inputs as well (an "overridable" initializer, fed or
   * not). ONNX Runtime then treats it as not constant: nothing computed from it is folded into a
   * new constant at session start (e.g. a Cast of F16 weights to F32, which would undo F16 storage).
   */
  keepUnfolded(v: Value): Value {
    const init = this.initializers.get(v.name);
    if (!init) throw new Error(`graph ${this.name}: ${v.name} is not an initializer`);
    if (!this.inputs.some((i) => i.name === v.name)) this.inputs.push({ name: v.name, dtype: init.dtype, shape: init.dims });
    return v;
  }

  output(v: Value, name?: string): Value {
    let out = v;
    if (name && name !== v.name) out = this.op('Identity', [v], {}, { name, exactName: true })[0];
    if (!out.shape) throw new Error(`graph ${this.name}: output ${out.name} has no known shape`);
    this.outputs.push({ name: out.name, dtype: out.dtype, shape: out.shape });
    return out;
  }

  /** A weight or constant tensor stored in the model (external data when large). */
  initializer(name: string, dtype: DType, dims: number[], bytes: Uint8Array): Value {
    return this.addInitializer({ name, dtype, dims, bytes });
  }

  /** A float32 weight whose values `fill` writes when the model file is written (see Initializer.fill). */
  deferredInitializer(name: string, dims: number[], fill: NonNullable<Initializer['fill']>): Value {
    const graph = this.name;
    return this.addInitializer({
      name, dtype: 'float32', dims, fill,
      get bytes(): Uint8Array {
        throw new Error(`graph ${graph}: initializer ${name} is deferred; its values are written with the model file`);
      },
    });
  }

  private addInitializer(init: Initializer): Value {
    if (this.values.has(init.name)) throw new Error(`graph ${this.name}: initializer ${init.name} already defined`);
    this.initializers.set(init.name, init);
    const v: Value = { name: init.name, dtype: init.dtype, shape: init.dims };
    this.values.set(init.name, v);
    return v;
  }

  /** A small constant; identical constants are shared. */
  constant(dtype: DType, dims: number[], data: ArrayLike<number> | ArrayLike<bigint>, base = 'const'): Value {
    const bytes = encodeConstant(dtype, data);
    const key = `${dtype}|${dims.join(',')}|${Buffer.from(bytes).toString('base64')}`;
    const known = this.constantCache.get(key);
    if (known) return known;
    const savedScope = this.scopeStack;
    this.scopeStack = [];
    const name = this.freshName(base);
    this.scopeStack = savedScope;
    const v = this.initializer(name, dtype, dims, bytes);
    this.constantCache.set(key, v);
    return v;
  }
  private constantCache = new Map<string, Value>();

  scalar(value: number, dtype: DType = 'float32'): Value {
    return this.constant(dtype, [], dtype === 'int64' ? [BigInt(value)] : [value], 'scalar');
  }
  ints(values: number[]): Value {
    return this.constant('int64', [values.length], values.map((x) => BigInt(x)), 'ints');
  }

  // ---------------------------------------------------------------- generic node

  /**
   * Adds a node. Output dtype/shape come from `infer` (the shape rules in ops.ts) unless given.
   */
  op(
    op: string,
    inputs: (Value | null)[],
    attrs: Record<string, AttrValue> = {},
    opts: {
      name?: string;
      exactName?: boolean;
      domain?: string;
      /** `omit`: an optional output the node need not compute (an empty name in ONNX). */
      outputs?: { dtype: DType; shape: Shape | null; name?: string; omit?: boolean }[];
    } = {},
  ): Value[] {
    const domain = opts.domain ?? '';
    const outSpecs = opts.outputs ?? [inferSingle(op, inputs, attrs)];
    const base = opts.name ?? op.toLowerCase();
    const outs = outSpecs.map((spec, i) => {
      if ('omit' in spec && spec.omit) return { name: '', dtype: spec.dtype, shape: spec.shape };
      const name = opts.exactName && i === 0 ? base : this.freshName(spec.name ?? (i === 0 ? base : `${base}_out${i}`));
      if (this.values.has(name)) throw new Error(`graph ${this.name}: value ${name} already defined`);
      const v: Value = { name, dtype: spec.dtype, shape: spec.shape };
      this.values.set(name, v);
      return v;
    });
    this.nodes.push({
      name: `${outs[0].name}/${op}`,
      op,
      domain,
      inputs: inputs.map((x) => (x ? x.name : '')),
      outputs: outs.map((o) => o.name),
      attrs,
    });
    return outs;
  }

  /**
   * Marks `output` (produced by the last node built) as a composite of `inputs` with its own
   * gradient. Only the composite rules in autodiff/rules call this (`rule` names which one), so
   * every fused gradient is registered and gradchecked alone. Returns `output` for chaining.
   */
  composite(output: Value, inputs: Value[], vjp: CompositeGradient['vjp'], rule: string): Value {
    const i = this.nodes.findIndex((n) => n.outputs.includes(output.name));
    if (i < 0) throw new Error(`graph ${this.name}: no node produces ${output.name}`);
    this.nodes[i] = { ...this.nodes[i], composite: { rule, inputs: inputs.map((x) => x.name), vjp } };
    return output;
  }

}

/** Single-output inference used by `Graph.op` when the caller gives no output spec. */
function inferSingle(op: string, inputs: (Value | null)[], _attrs: Record<string, AttrValue>): { dtype: DType; shape: Shape | null; name?: string } {
  const a = inputs[0];
  if (!a) throw new Error(`${op}: first input is required to infer its output`);
  const elementwise = ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Mod', 'BitwiseAnd', 'BitwiseXor'];
  if (elementwise.includes(op)) {
    const b = inputs[1]!;
    return { dtype: a.dtype, shape: a.shape && b.shape ? broadcastShapes(a.shape, b.shape) : null };
  }
  const unary = [
    'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Sigmoid', 'Tanh', 'Relu', 'Abs', 'Identity', 'Cos', 'Sin', 'Softmax',
    'LogSoftmax', 'Erf', 'Sign', 'Floor', 'Ceil',
  ];
  if (unary.includes(op)) return { dtype: a.dtype, shape: a.shape };
  throw new Error(`graph: no shape rule for ${op}; pass opts.outputs`);
}

function encodeConstant(dtype: DType, data: ArrayLike<number> | ArrayLike<bigint>): Uint8Array {
  const n = data.length;
  switch (dtype) {
    case 'float32':
      return new Uint8Array(Float32Array.from(data as ArrayLike<number>).buffer);
    case 'float64':
      return new Uint8Array(Float64Array.from(data as ArrayLike<number>).buffer);
    case 'int64': {
      const arr = new BigInt64Array(n);
      for (let i = 0; i < n; i++) arr[i] = BigInt((data as ArrayLike<number | bigint>)[i]);
      return new Uint8Array(arr.buffer);
    }
    case 'int32':
      return new Uint8Array(Int32Array.from(data as ArrayLike<number>).buffer);
    case 'bool':
    case 'uint8':
      return Uint8Array.from(data as ArrayLike<number>);
    default:
      throw new Error(`constant of dtype ${dtype} is not supported`);
  }
}
