/**
 * The model's tokenizer (tokenizer.json via @huggingface/tokenizers) together with its chat
 * template and special tokens, as read from a Hugging Face folder (or rebuilt from GGUF).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { AttuneError } from '../../shared/errors.js';
import { ChatTemplate, NAMED_TEMPLATES, type ChatMessage } from './chat-template.js';

export type { ChatMessage };

export interface TokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  /** eos ids from generation_config.json (may be a list), if any. */
  generationEos?: number[];
}

/** A special token in tokenizer_config may be a string or an AddedToken object. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

export class ModelTokenizer {
  private readonly tok: Tokenizer;
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly bosTokenId?: number;
  /** Every id that ends a turn: eos, generation_config eos list, and template end-of-turn tokens. */
  readonly stopTokenIds: number[];
  readonly chatTemplateSource?: string;
  /** Name of the template in use: 'model' (its own), or a key of NAMED_TEMPLATES. */
  readonly templateName?: string;
  private readonly template?: ChatTemplate;
  readonly vocabSize: number;

  constructor(files: TokenizerFiles, opts: { template?: string } = {}) {
    this.tok = new Tokenizer(files.tokenizerJson, files.tokenizerConfig);
    const cfg = files.tokenizerConfig;
    this.bosToken = tokenText(cfg.bos_token);
    this.eosToken = tokenText(cfg.eos_token);
    this.bosTokenId = this.bosToken !== undefined ? this.tok.token_to_id(this.bosToken) : undefined;
    const own = typeof cfg.chat_template === 'string' ? cfg.chat_template : undefined;
    const chosen = opts.template && opts.template !== 'model' ? opts.template : undefined;
    if (chosen && !NAMED_TEMPLATES[chosen]) {
      throw new AttuneError('tokenizer.template-unknown', { name: chosen, names: Object.keys(NAMED_TEMPLATES).join(', ') });
    }
    this.chatTemplateSource = chosen ? NAMED_TEMPLATES[chosen] : own;
    this.templateName = chosen ?? (own ? 'model' : undefined);
    if (this.chatTemplateSource) {
      this.template = new ChatTemplate(this.chatTemplateSource, { bos_token: this.bosToken ?? '', eos_token: this.eosToken ?? '' });
    }
    const stops = new Set<number>(files.generationEos ?? []);
    const eosId = this.eosToken !== undefined ? this.tok.token_to_id(this.eosToken) : undefined;
    if (eosId !== undefined) stops.add(eosId);
    for (const t of ['<|im_end|>', '<|eot_id|>', '<|end_of_text|>', '<end_of_turn>']) {
      const id = this.tok.token_to_id(t);
      if (id !== undefined && this.chatTemplateSource?.includes(t)) stops.add(id);
    }
    this.stopTokenIds = [...stops];
    this.vocabSize = this.tok.get_vocab(true).size;
  }

  static async fromFolder(dir: string, opts: { template?: string } = {}): Promise<ModelTokenizer> {
    const read = async (name: string, required: boolean) => {
      const file = path.join(dir, name);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        if (!required) return undefined;
        throw new AttuneError('tokenizer.missing', { file }, { file });
      }
      try {
        return JSON.parse(text) as Record<string, unknown>;
      } catch (e) {
        throw new AttuneError('tokenizer.invalid', { file, detail: (e as Error).message }, { file });
      }
    };
    const tokenizerJson = (await read('tokenizer.json', true))!;
    const tokenizerConfig = (await read('tokenizer_config.json', false)) ?? {};
    const gen = await read('generation_config.json', false);
    const eos = gen?.eos_token_id;
    const generationEos = typeof eos === 'number' ? [eos] : Array.isArray(eos) ? (eos as number[]) : undefined;
    return new ModelTokenizer({ tokenizerJson, tokenizerConfig, generationEos }, opts);
  }

  get hasChatTemplate(): boolean {
    return this.template !== undefined;
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
  }

  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.tok.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? true });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  /** Renders the conversation with the chat template (text, not ids). */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt: boolean }): string {
    if (!this.template) {
      throw new AttuneError('tokenizer.template-missing');
    }
    return this.template.render(messages, opts);
  }

  /** Token ids of a rendered conversation; the template already holds any BOS it wants. */
  encodeChat(messages: ChatMessage[], opts: { addGenerationPrompt: boolean }): number[] {
    return this.encode(this.applyChatTemplate(messages, opts), { addSpecialTokens: false });
  }
}
