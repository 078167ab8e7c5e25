/**
 * Data import: any reasonable file of examples in, clean conversations out, every problem named.
 */
export { detectFormat, FORMAT_NAMES, type DetectedFormat } from './detect.js';
export { checkDataFile, importDataFile } from './pipeline.js';
export { splitExamples, splitIndices, exampleLength, seededRandom } from './split.js';
export { readNormalizedJsonl, streamNormalizedJsonl, ExampleSchema } from './normalized.js';
export { tokenizeConversation, type TokenizedConversation } from './tokenize.js';
export { estimateTrainingSeconds, estimateTokens, lengthStats } from './stats.js';
export { NEAR_DUPLICATE_THRESHOLD, conversationId } from './dedupe.js';
export { findMisdecoding, findMojibake, type Misdecoding } from './mojibake.js';
export { parseColumnMap } from './map.js';
export * from './types.js';
