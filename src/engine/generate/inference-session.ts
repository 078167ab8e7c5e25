/** The cached inference graph file for a loaded model and graph options. */
import type { LoadedModel } from '../models/load.js';
import { buildInferenceGraph, type InferenceGraphOptions } from '../models/inference-graph.js';
import { cacheKey, cachedGraph } from '../runtime/cache.js';

export async function inferenceSessionFor(model: LoadedModel, opts: InferenceGraphOptions): Promise<string> {
  const key = cacheKey({ model: model.fingerprint, template: null, opts });
  const { modelPath } = await cachedGraph('infer', key, async () => {
    await model.weights.ensureLoaded();
    return buildInferenceGraph(model.config, model.weights, opts);
  });
  return modelPath;
}
