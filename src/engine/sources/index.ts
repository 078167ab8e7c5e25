/**
 * Model sources: the catalog, the Hugging Face cache, LM Studio's and Ollama's stores, and added
 * paths. The only module that may open a network connection (the Hub pull, on request).
 */
export { pullModel, chooseFiles, formatSize, DEFAULT_ENDPOINT, type PullOptions, type PullProgress, type PullResult, type PulledFile } from './hub-pull.js';
export { hubCacheDir, parseRepoRef, repoCacheDir, resolveCachedSnapshot, listCachedRepos, checkSnapshot, type CachedRepo } from './hub-cache.js';
export { catalogEntries, catalogMemory, fitOf, type CatalogEntry, type CatalogMemory, type MemoryFit } from './catalog.js';
export { listModels, addModel, removeAddedModel, readAddedModels, addedModelsFile, type ModelListEntry, type ModelSource } from './list.js';
export { listLmStudioModels, listOllamaModels, isGgufFile, readGgufHeader } from './local-stores.js';
export { resolveModelName } from './resolve.js';
