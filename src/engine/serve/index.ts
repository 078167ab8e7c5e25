/** The OpenAI-compatible local server (`attune serve`, the app's Export step). */
export { startServer, type RunningServer, type ServeOptions } from './server.js';
export { ApiError, parseChatRequest, type ChatRequest } from './openai.js';
