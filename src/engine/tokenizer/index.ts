/** The tokenizer's entry point, for callers that need it without loading ONNX Runtime. */
export { ModelTokenizer } from './tokenizer.js';
export type { ChatMessage } from './chat-template.js';
