/** Export of tuned models (PEFT, merged HF folder, GGUF + Ollama Modelfile). */
export { exportModel, EXPORT_FORMATS, type ExportFormat, type ExportOptions, type ExportProgress, type ExportResult } from './export.js';
export { mergeAdapterWeights, openExportSource, type ExportSource } from './source.js';
export { buildModelfile, identifyTemplate, OLLAMA_TEMPLATES } from './ollama.js';
