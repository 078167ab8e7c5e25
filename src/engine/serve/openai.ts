/**
 * The slice of OpenAI's chat-completions API that Attune serves: request validation (with
 * OpenAI-style errors naming the parameter at fault) and the response / stream-chunk shapes.
 * Unknown fields are ignored, as OpenAI-compatible servers do; things Attune cannot do (n > 1,
 * tools) are refused rather than silently dropped.
 */
import type { ChatMessage } from '../tokenizer/chat-template.js';

export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }

  body(): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export interface ChatRequest {
  model?: string;
  messages: ChatMessage[];
  stream: boolean;
  includeUsage: boolean;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  stop: string[];
}

const invalid = (param: string, message: string) => new ApiError(400, message, 'invalid_request_error', param, 'invalid_value');

function textOf(content: unknown, i: number): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (Array.isArray(content)) {
    return content
      .map((part, j) => {
        const p = part as { type?: unknown; text?: unknown };
        if (p && p.type === 'text' && typeof p.text === 'string') return p.text;
        throw invalid(`messages[${i}].content[${j}]`, `messages[${i}].content[${j}] is a ${JSON.stringify(p?.type ?? typeof part)} part; this model reads text parts only.`);
      })
      .join('');
  }
  throw invalid(`messages[${i}].content`, `messages[${i}].content must be a string or an array of text parts.`);
}

function optionalNumber(body: Record<string, unknown>, key: string, min: number, max: number, integer = false): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw invalid(key, `${key} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, not ${JSON.stringify(v)}.`);
  }
  return v;
}

/** Validates a parsed JSON body of POST /v1/chat/completions. */
export function parseChatRequest(body: unknown): ChatRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'The request body must be a JSON object.', 'invalid_request_error', null, 'invalid_json');
  const b = body as Record<string, unknown>;
  if (b.model !== undefined && typeof b.model !== 'string') throw invalid('model', 'model must be a string.');
  if (!Array.isArray(b.messages)) throw new ApiError(400, "Missing required parameter: 'messages'.", 'invalid_request_error', 'messages', 'missing_required_parameter');
  if (b.messages.length === 0) throw invalid('messages', 'messages must hold at least one message.');
  const messages: ChatMessage[] = b.messages.map((m: unknown, i: number) => {
    if (!m || typeof m !== 'object') throw invalid(`messages[${i}]`, `messages[${i}] must be an object with role and content.`);
    const { role, content } = m as { role?: unknown; content?: unknown };
    const r = role === 'developer' ? 'system' : role;
    if (r !== 'system' && r !== 'user' && r !== 'assistant') {
      throw invalid(`messages[${i}].role`, `messages[${i}].role is ${JSON.stringify(role)}; this server takes system, developer, user and assistant messages.`);
    }
    return { role: r, content: textOf(content, i) };
  });
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') throw invalid('stream', 'stream must be true or false.');
  if (b.n !== undefined && b.n !== null && b.n !== 1) throw invalid('n', 'This server gives one answer per request: n must be 1.');
  if (Array.isArray(b.tools) && b.tools.length > 0) throw invalid('tools', 'This model cannot call tools; send the request without tools.');
  const maxTokens = optionalNumber(b, 'max_completion_tokens', 1, 1_000_000, true) ?? optionalNumber(b, 'max_tokens', 1, 1_000_000, true);
  let stop: string[] = [];
  if (typeof b.stop === 'string') stop = [b.stop];
  else if (Array.isArray(b.stop)) {
    if (b.stop.length > 4 || b.stop.some((s) => typeof s !== 'string')) throw invalid('stop', 'stop must be a string or a list of at most 4 strings.');
    stop = b.stop as string[];
  } else if (b.stop !== undefined && b.stop !== null) throw invalid('stop', 'stop must be a string or a list of at most 4 strings.');
  const so = b.stream_options as { include_usage?: unknown } | undefined | null;
  return {
    model: b.model as string | undefined,
    messages,
    stream: b.stream === true,
    includeUsage: so?.include_usage === true,
    maxTokens,
    temperature: optionalNumber(b, 'temperature', 0, 2),
    topP: optionalNumber(b, 'top_p', 0, 1),
    seed: optionalNumber(b, 'seed', -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true),
    stop,
  };
}

export type FinishReason = 'stop' | 'length';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export const usage = (prompt: number, completion: number): Usage => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

export function completionBody(id: string, model: string, created: number, text: string, finish: FinishReason, u: Usage) {
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, message: { role: 'assistant' as const, content: text, refusal: null }, logprobs: null, finish_reason: finish }],
    usage: u,
  };
}

export function chunkBody(id: string, model: string, created: number, delta: Record<string, unknown>, finish: FinishReason | null, u?: Usage) {
  return {
    id,
    object: 'chat.completion.chunk' as const,
    created,
    model,
    system_fingerprint: null,
    choices: u ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(u ? { usage: u } : {}),
  };
}
