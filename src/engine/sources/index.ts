/**
 * Model sources: the catalog, the Hugging Face cache, LM Studio's and Ollama's stores, and added
 * paths. The only module that may open a network connection (the Hub pull, on request).
 */
export { pullModel, chooseFiles, formatSize, DEFAULT_ENDPOINT, type PullOptions, type PullProgress, type PullResult, type PulledFile } from './hub-pull.js';
export { hubCacheDir, parseRepoRef, repoCacheDir, resolveCachedSnapshot, listCachedRepos, checkSnapshot, type CachedRepo } from './hub-cache.js';
