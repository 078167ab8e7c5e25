/**
 * The engine's public surface: the only import path for src/main and src/cli.
 */
export { loadModel, type LoadedModel } from './models/load.js';
export { inspectModel, estimateMemory, type ModelReport } from './models/inspect.js';
export { ChatSession, type ChatOptions, type ChatResult, type OpenChatOptions } from './generate/chat-session.js';
export { probeDevices, resolveDevice, chooseDevice, DEVICE_LABELS, type DeviceProbe, type Workload } from './runtime/devices.js';
export { fallbackProbes, rememberProbes } from './runtime/devices.js';
export { loadAdapter, saveAdapter, type Adapter } from './adapter/adapter.js';
export { ModelTokenizer, type ChatMessage } from './tokenizer/tokenizer.js';
export { NAMED_TEMPLATES } from './tokenizer/chat-template.js';
export { AttuneError, isAttuneError } from '../shared/errors.js';
export { runTuning, resumeTuning, type TuneConfig, type TuneProgress, type TuneResult } from './train/tune.js';
export { forgetPreparedData } from './train/prepared-data.js';
export { DEFAULT_HYPERPARAMETERS, type TuneEvent, type TrainingHyperparameters } from './train/trainer.js';
export { findUntrainedTokens } from './models/untrained-tokens.js';
export { checkDataFile, importDataFile, readNormalizedJsonl, splitExamples, tokenizeConversation, type CheckOptions, type DataReport, type Example } from './data/index.js';
export { checkLengths, type LengthCheckOptions, type LengthCheckResult } from './train/length-check.js';
export { answersCorrection, CORRECTION_RIGHT, reviewAdapter, similarity, type ReviewReport, type ReviewSample } from './eval/review.js';
export { exportModel, mergeAdapterWeights, EXPORT_FORMATS, type ExportFormat, type ExportOptions, type ExportProgress, type ExportResult } from './export/index.js';
export { startServer, type RunningServer, type ServeOptions } from './serve/index.js';
export * from './sources/index.js';
export { estimateTuneTime, type TuneEstimate } from './train/estimate.js';
