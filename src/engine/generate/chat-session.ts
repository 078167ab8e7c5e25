/**
 * A chat with a base model, optionally with a LoRA adapter: the model's chat template renders the
 * conversation, one inference session answers as base (loraScale 0) or tuned (loraScale 1).
 */
import { AttuneError } from '../../shared/errors.js';
import { adapterHasTokenRows, loadAdapter, type Adapter } from '../adapter/adapter.js';
import { loadModel, type LoadedModel } from '../models/load.js';
import type { ChatMessage } from '../tokenizer/tokenizer.js';
import { baseRows } from '../models/weights.js';
import { createSession, type ResolvedDevice, type Session } from '../runtime/session.js';
import { resolveDevice, type DeviceChoice } from '../runtime/devices.js';
import { inferenceSessionFor } from './inference-session.js';
import { adapterFeeds, generateTokens, KvCache } from './generator.js';
import { DEFAULT_SAMPLING, type SamplingParams } from './sampler.js';
import { TextStream } from './text-stream.js';

export interface ChatOptions extends Partial<SamplingParams> {
  maxTokens?: number;
  /** 0 = base model, 1 = tuned. Defaults to 1 when an adapter is loaded. */
  loraScale?: number;
  /** Extra stop strings; the model's own stop tokens always apply. */
  stop?: string[];
}

export interface ChatResult {
  text: string;
  tokens: number[];
  promptTokens: number;
  /** Prompt tokens whose keys and values came from the previous answer's cache (not run again). */
  reusedPromptTokens: number;
  tokensPerSecond: number;
  stoppedBy: 'stop-token' | 'stop-string' | 'max-tokens' | 'cancelled';
}

export interface OpenChatOptions {
  modelPath: string;
  adapterDir?: string;
  device?: DeviceChoice;
  template?: string;
  threads?: number;
  /** Reuse an already loaded model (the app keeps one copy of the base weights). */
  model?: LoadedModel;
}

export class ChatSession {
  /**
   * The last answer's KV cache and the ids it holds: the next turn of the same conversation
   * starts from it and runs only what follows the common prefix (the history is not prefilled
   * again). One per loraScale: the base and tuned model's keys differ, and the app asks both.
   */
  private readonly kept = new Map<number, { cache: KvCache; ids: number[] }>();

  private constructor(
    readonly model: LoadedModel,
    readonly adapter: Adapter | undefined,
    private readonly session: Session,
    readonly device: ResolvedDevice,
  ) {}

  static async open(opts: OpenChatOptions): Promise<ChatSession> {
    const model = opts.model ?? (await loadModel(opts.modelPath, { template: opts.template, lazyWeights: true }));
    let adapter: Adapter | undefined;
    if (opts.adapterDir) {
      if (await adapterHasTokenRows(opts.adapterDir)) await model.weights.ensureLoaded();
      adapter = await loadAdapter(opts.adapterDir, model.config, (ids) => baseRows(model, ids));
      if (!opts.template && adapter.template && adapter.template !== model.tokenizer.templateName) {
        // The adapter was trained with a named template: chat with the same one.
        const reloaded = await loadModel(opts.modelPath, { template: adapter.template, lazyWeights: true });
        return ChatSession.open({ ...opts, model: reloaded, template: adapter.template });
      }
    }
    const device = await resolveDevice(opts.device ?? 'auto');
    const modelFile = await inferenceSessionFor(model, {
      lastTokenOnly: true,
      lora: adapter ? { rank: adapter.rank, targets: adapter.targets } : undefined,
      tokenRows: adapter?.tokenRows?.ids,
    });
    // The graph file holds the weights ORT will load: drop the JavaScript copy first, so the
    // model is never in memory twice (it is read again if something needs it later).
    model.weights.release();
    // ORT's optimised graph and packed weights are cached with the graph: a second start maps them.
    const session = await createSession(modelFile, { device: device.device, threads: opts.threads, optimizedCache: true });
    return new ChatSession(model, adapter, session, device.device);
  }

  /** Answers the conversation's last user message, streaming text through `onText`. */
  async generate(
    messages: ChatMessage[],
    opts: ChatOptions = {},
    cb: { onText?: (delta: string) => void; signal?: AbortSignal } = {},
  ): Promise<ChatResult> {
    const tok = this.model.tokenizer;
    if (!tok.hasChatTemplate) {
      throw new AttuneError('chat.template-missing');
    }
    const promptIds = tok.encodeChat(messages, { addGenerationPrompt: true });
    return this.complete(promptIds, opts, cb);
  }

  /** Continues raw token ids (no template): for scoring, tests and benchmarks. */
  async complete(
    promptIds: number[],
    opts: ChatOptions = {},
    cb: { onText?: (delta: string) => void; signal?: AbortSignal } = {},
  ): Promise<ChatResult> {
    const tok = this.model.tokenizer;
    const sampling = { ...DEFAULT_SAMPLING, ...stripUndefined(opts) };
    const loraScale = opts.loraScale ?? (this.adapter ? 1 : 0);
    const maxTokens = Math.max(1, Math.min(opts.maxTokens ?? 256, this.model.config.maxPositions - promptIds.length));
    if (promptIds.length >= this.model.config.maxPositions) {
      throw new AttuneError('chat.prompt-too-long', { tokens: promptIds.length, max: this.model.config.maxPositions });
    }
    const stream = new TextStream((ids) => tok.decode(ids, { skipSpecialTokens: true }));
    const stops = opts.stop?.filter((s) => s.length > 0) ?? [];
    const generated: number[] = [];
    /** Where the text ends when a stop string appeared (the stop string itself is not shown). */
    let cutAt: number | undefined;
    const cache = this.reusableCache(promptIds, loraScale);
    this.kept.delete(loraScale); // taken: an answer asked for meanwhile starts a cache of its own
    const outcome = await generateTokens(
      this.session,
      this.model.config,
      promptIds,
      { ...sampling, maxTokens, stopTokenIds: tok.stopTokenIds, loraScale },
      adapterFeeds(this.session.inputNames, this.model.config, this.adapter, loraScale),
      {
        signal: cb.signal,
        cache,
        onToken: (token) => {
          generated.push(token);
          const shown = stream.text.length;
          stream.push(generated);
          const hits = stops.map((s) => stream.text.indexOf(s)).filter((i) => i >= 0);
          if (hits.length) cutAt = Math.min(...hits);
          const end = cutAt ?? stream.text.length;
          if (end > shown) cb.onText?.(stream.text.slice(shown, end));
          return cutAt === undefined; // false stops generation
        },
      },
    );
    const tokens = outcome.tokens;
    this.kept.set(loraScale, { cache: cache.cache, ids: outcome.cachedIds });
    return {
      text: stream.text.slice(0, cutAt),
      tokens,
      promptTokens: promptIds.length,
      reusedPromptTokens: cache.reused,
      tokensPerSecond: outcome.decodeSeconds > 0 ? Math.max(0, tokens.length - 1) / outcome.decodeSeconds : 0,
      // 'callback' means onToken stopped it, which only a stop string does.
      stoppedBy: outcome.stoppedBy === 'callback' ? 'stop-string' : outcome.stoppedBy,
    };
  }

  /**
   * The kept cache cut to the longest prefix it shares with `promptIds` (at least the last prompt
   * id is run, for its logits), or a new cache. Its buffers grow as needed, up to the context.
   */
  private reusableCache(promptIds: number[], loraScale: number): { cache: KvCache; reused: number } {
    const kept = this.kept.get(loraScale);
    if (kept?.cache.canKeepPrefix) {
      let shared = 0;
      const most = Math.min(kept.ids.length, promptIds.length - 1);
      while (shared < most && kept.ids[shared] === promptIds[shared]) shared++;
      if (shared > 0) {
        kept.cache.keepOnly(shared);
        return { cache: kept.cache, reused: shared };
      }
    }
    return { cache: KvCache.for(this.session, this.model.config, this.model.config.maxPositions), reused: 0 };
  }

  async close(): Promise<void> {
    this.kept.clear();
    await this.session.release();
  }
}

export { baseRows };

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
