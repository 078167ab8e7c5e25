/**
 * Graph -> ONNX ModelProto bytes (protobuf encoding by onnx-proto). Large tensors go to an
 * external data file so models over protobuf's 2 GB limit work; small ones stay inline.
 */
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { AttrValue, FillScratch, Graph, GraphIO, Initializer } from './graph.js';
import { ONNX_DTYPE_CODE } from './dtype.js';
import { writeDirAtomic, writeFully } from '../util/atomic.js';

const { onnx } = onnxProto;

/** Tensors at least this large are written as external data. */
const EXTERNAL_THRESHOLD_BYTES = 1024;
/** Offsets in the data file are aligned for the runtime's memory mapping. */
const ALIGN = 64;

export interface SerializeOptions {
  /** Name of the external data file, relative to the model file; omit to inline everything. */
  externalDataFile?: string;
}

/** Bytes of the external data file, or a deferred initializer's values, written when the file is. */
export type ExternalChunk = Uint8Array | { byteLength: number; fill: NonNullable<Initializer['fill']> };

export interface SerializedModel {
  model: Uint8Array;
  /** Chunks of the external data file in order (with alignment padding). */
  externalChunks: ExternalChunk[];
}

/**
 * The nodes an output depends on, in order, and the initializers they read. A graph built from
 * shared parts can hold values only another path uses (the inference graph's causal mask and
 * RoPE tables where the fused layers use their own); ORT would compute them on every run.
 */
function liveParts(graph: Graph): { nodes: Graph['nodes']; initializers: Initializer[] } {
  const needed = new Set(graph.outputs.map((o) => o.name));
  const live: Graph['nodes'] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i]!;
    if (!n.outputs.some((o) => o && needed.has(o))) continue;
    live.push(n);
    for (const x of n.inputs) if (x) needed.add(x);
  }
  return { nodes: live.reverse(), initializers: [...graph.initializers.values()].filter((t) => needed.has(t.name)) };
}

export function serializeGraph(graph: Graph, opts: SerializeOptions = {}): SerializedModel {
  const { nodes, initializers } = liveParts(graph);
  const chunks: ExternalChunk[] = [];
  let offset = 0;
  const scratch: FillScratch = {};
  const tensorProto = (init: Initializer) => {
    const base = {
      name: init.name,
      dims: init.dims,
      dataType: ONNX_DTYPE_CODE[init.dtype],
    };
    const byteLength = init.fill ? 4 * init.dims.reduce((a, b) => a * b, 1) : init.bytes.byteLength;
    if (!opts.externalDataFile || byteLength < EXTERNAL_THRESHOLD_BYTES) return { ...base, rawData: init.fill ? filled(init.fill, byteLength, scratch) : init.bytes };
    const pad = (ALIGN - (offset % ALIGN)) % ALIGN;
    if (pad) chunks.push(new Uint8Array(pad));
    offset += pad;
    const entry = {
      ...base,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: opts.externalDataFile },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(byteLength) },
      ],
    };
    chunks.push(init.fill ? { byteLength, fill: init.fill } : init.bytes);
    offset += byteLength;
    return entry;
  };

  const valueInfo = (io: GraphIO, unshaped = false) => ({
    name: io.name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE_CODE[io.dtype],
        ...(unshaped ? {} : { shape: { dim: io.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } }),
      },
    },
  });

  const model = onnx.ModelProto.create({
    irVersion: 10,
    producerName: 'attune',
    producerVersion: '1',
    opsetImport: [...graph.opsets].map(([domain, version]) => ({ domain, version })),
    graph: {
      name: graph.name,
      node: nodes.map((n) => ({
        name: n.name,
        opType: n.op,
        domain: n.domain,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([name, a]) => attributeProto(name, a)),
      })),
      initializer: initializers.map(tensorProto),
      input: graph.inputs.map((io) => valueInfo(io, graph.unshapedDynamicInputs && io.shape.some((d) => typeof d !== 'number'))),
      output: graph.outputs.map((io) => valueInfo(io)),
      valueInfo: declaredValueShapes(graph, nodes).map((v) => valueInfo(v)),
    },
  });
  return { model: onnx.ModelProto.encode(model).finish(), externalChunks: chunks };
}

/** The node outputs whose shapes the file declares (see Graph.declaredValueDims). */
function declaredValueShapes(graph: Graph, nodes: Graph['nodes']): GraphIO[] {
  if (graph.declaredValueDims.length === 0) return [];
  const sure = new Set(graph.declaredValueDims);
  const io = new Set([...graph.inputs, ...graph.outputs].map((v) => v.name));
  const declared: GraphIO[] = [];
  for (const n of nodes) {
    for (const name of n.outputs) {
      const v = graph.values.get(name);
      if (!v?.shape || io.has(name) || !v.shape.every((d) => typeof d === 'number' || sure.has(d))) continue;
      declared.push({ name, dtype: v.dtype, shape: v.shape });
    }
  }
  return declared;
}

function attributeProto(name: string, a: AttrValue) {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.value };
    case 'float':
      return { name, type: T.FLOAT, f: a.value };
    case 'ints':
      return { name, type: T.INTS, ints: a.value };
    case 'floats':
      return { name, type: T.FLOATS, floats: a.value };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
  }
}

/** A deferred initializer's bytes, in a new buffer (a model held in memory). */
function filled(fill: NonNullable<Initializer['fill']>, byteLength: number, scratch: FillScratch): Uint8Array {
  const values = new Float32Array(byteLength / 4);
  fill(values, scratch);
  return new Uint8Array(values.buffer);
}

/**
 * Writes `model.onnx` + `model.onnx.data` into `dir` atomically (a temporary folder renamed into
 * place), so a failed build leaves no half file. Deferred initializers are filled one at a time
 * into one reused buffer, each written before the next is read.
 */
export async function writeModelDir(graph: Graph, dir: string): Promise<{ modelPath: string }> {
  await writeDirAtomic(dir, async (tmp) => {
    const { model, externalChunks } = serializeGraph(graph, { externalDataFile: 'model.onnx.data' });
    const out = await open(path.join(tmp, 'model.onnx.data'), 'w');
    try {
      const scratch: FillScratch = {};
      let values = new Float32Array(0);
      for (const chunk of externalChunks) {
        if (chunk instanceof Uint8Array) {
          await writeFully(out, chunk);
          continue;
        }
        if (values.byteLength < chunk.byteLength) values = new Float32Array(chunk.byteLength / 4);
        const part = values.subarray(0, chunk.byteLength / 4);
        chunk.fill(part, scratch);
        await writeFully(out, new Uint8Array(part.buffer, 0, chunk.byteLength));
      }
    } finally {
      await out.close();
    }
    await writeFile(path.join(tmp, 'model.onnx'), model);
  });
  return { modelPath: path.join(dir, 'model.onnx') };
}
