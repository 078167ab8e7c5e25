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
import { adapterFeeds, generateTokens } from './generator.js';
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
    const session = await createSession(modelFile, { device: device.device, threads: opts.threads });
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
      throw new AttuneError('template-missing', 'This model has no chat template, so Attune does not know how to format a conversation for it. Choose one of Attune\'s templates (alpaca, chatml or llama3).');
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
      throw new AttuneError('prompt-too-long', `The conversation is ${promptIds.length} tokens long, but this model reads at most ${this.model.config.maxPositions}. Shorten it.`);
    }
    const stream = new TextStream((ids) => tok.decode(ids, { skipSpecialTokens: true }));
    const stops = opts.stop?.filter((s) => s.length > 0) ?? [];
    let stopString = false;
    let generated: number[] = [];
    const outcome = await generateTokens(
      this.session,
      this.model.config,
      promptIds,
      { ...sampling, maxTokens, stopTokenIds: tok.stopTokenIds, loraScale },
      adapterFeeds(this.model.config, this.adapter, loraScale),
      {
        signal: cb.signal,
        onToken: (token) => {
          generated.push(token);
          const before = stream.text;
          const delta = stream.push(generated);
          const hit = stops.map((s) => (before + delta).indexOf(s)).filter((i) => i >= 0);
          if (hit.length) {
            const cut = Math.min(...hit);
            const visible = (before + delta).slice(before.length, Math.max(before.length, cut));
            if (visible) cb.onText?.(visible);
            stopString = true;
            return false;
          }
          if (delta) cb.onText?.(delta);
        },
      },
    );
    let text = stream.text;
    if (stopString) {
      const cut = Math.min(...stops.map((s) => text.indexOf(s)).filter((i) => i >= 0));
      text = text.slice(0, cut);
    } else {
      const rest = stream.push(generated);
      if (rest) cb.onText?.(rest);
      text = stream.text;
    }
    generated = outcome.tokens;
    return {
      text,
      tokens: generated,
      promptTokens: promptIds.length,
      tokensPerSecond: outcome.decodeSeconds > 0 ? Math.max(0, generated.length - 1) / outcome.decodeSeconds : 0,
      stoppedBy: stopString ? 'stop-string' : outcome.stoppedBy === 'callback' ? 'stop-string' : outcome.stoppedBy,
    };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

export { baseRows };

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
