// Tokenizer conversion between GGUF metadata (tokenizer.ggml.*) and HF tokenizer.json.
//  - `llama` (SentencePiece BPE with byte fallback): merges are derived from the scores as
//    transformers' SentencePieceExtractor does; the JSON mirrors what LlamaTokenizerFast saves.
//  - `gpt2` (byte-level BPE): vocab + tokenizer.ggml.merges; the pre-tokenizer comes from
//    tokenizer.ggml.pre through PRE_TOKENIZERS (regexes as in llama.cpp src/llama-vocab.cpp).
import { mismatch, unsupported } from './errors.js';
import { gv, metaValue, type GgufFile, type GgufValue } from './gguf.js';

/** tokenizer.ggml.token_type values (llama.cpp llama_token_type). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export type TokenizerJson = Record<string, unknown> & { model: Record<string, unknown>; added_tokens: AddedToken[] };
export type TokenizerConfig = Record<string, unknown>;

interface AddedToken {
  id: number; content: string; single_word: boolean; lstrip: boolean; rstrip: boolean; normalized: boolean; special: boolean;
}

const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const byteLevel = (useRegex: boolean): Record<string, unknown> => ({ type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const split = (regex: string): Record<string, unknown> => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });

interface PreTokenizerRow {
  /** tokenizer.ggml.pre values that select this row; the first is written on export */
  names: readonly string[];
  preTokenizer: Record<string, unknown>;
  normalizer: Record<string, unknown> | null;
  /** llama.cpp sets ignore_merges for these (a whole pre-token in the vocab wins) */
  ignoreMerges: boolean;
  /** llama.cpp adds BOS by default for these */
  addBos: boolean;
}

/** One row per pre-tokenizer family Attune can rebuild. */
export const PRE_TOKENIZERS: readonly PreTokenizerRow[] = [
  { names: ['llama-bpe', 'llama3', 'llama-v3'], preTokenizer: { type: 'Sequence', pretokenizers: [split(LLAMA3_REGEX), byteLevel(false)] }, normalizer: null, ignoreMerges: true, addBos: true },
  { names: ['qwen2', 'deepseek-r1-qwen'], preTokenizer: { type: 'Sequence', pretokenizers: [split(QWEN2_REGEX), byteLevel(false)] }, normalizer: { type: 'NFC' }, ignoreMerges: false, addBos: false },
  { names: ['smollm', 'starcoder', 'refact', 'codeshell'], preTokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true)] }, normalizer: null, ignoreMerges: false, addBos: false },
  // `default` is llama.cpp's fallback when a converter did not recognise the tokenizer; GPT-2's
  // regex is the closest HF equivalent (llama.cpp's default additionally isolates punctuation runs).
  { names: ['gpt-2', 'default', 'phi-2', 'olmo', 'mpt'], preTokenizer: byteLevel(true), normalizer: null, ignoreMerges: false, addBos: false },
];

const toks = (s: string): string[] => Array.from(s); // split by code point, as Python slices str

/**
 * SentencePiece BPE merges from (piece, score) pairs, as transformers' SentencePieceExtractor:
 * every split of a piece into two in-vocab pieces (splits of one piece ordered by the pieces' ids),
 * then all merges stably sorted by (merged piece's score, left length, right length), highest first.
 */
export function mergesFromScores(pieces: readonly string[], scores: readonly number[]): [string, string][] {
  const vocab = new Map<string, number>();
  pieces.forEach((p, i) => { if (!vocab.has(p)) vocab.set(p, i); });
  const all: { l: string; r: string; ll: number; rl: number; score: number }[] = [];
  for (const [piece, id] of vocab) {
    const cps = toks(piece);
    const local: { l: string; r: string; li: number; ri: number }[] = [];
    for (let k = 1; k < cps.length; k++) {
      const l = cps.slice(0, k).join(''), r = cps.slice(k).join('');
      const li = vocab.get(l), ri = vocab.get(r);
      if (li !== undefined && ri !== undefined) local.push({ l, r, li, ri });
    }
    local.sort((a, b) => a.li - b.li || a.ri - b.ri);
    for (const m of local) all.push({ l: m.l, r: m.r, ll: toks(m.l).length, rl: toks(m.r).length, score: scores[id]! });
  }
  // key (score, len(left), len(right)), descending; Array.prototype.sort is stable like Python's
  all.sort((a, b) => b.score - a.score || b.ll - a.ll || b.rl - a.rl);
  return all.map((m) => [m.l, m.r]);
}

const added = (id: number, content: string, special: boolean): AddedToken => ({
  id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special && false, special,
});

function template(bos: string | undefined, eos: string | undefined, ids: Map<string, number>): Record<string, unknown> | null {
  if (!bos && !eos) return null;
  const sp = (t: string, type_id: number): unknown => ({ SpecialToken: { id: t, type_id } });
  const seq = (id: string, type_id: number): unknown => ({ Sequence: { id, type_id } });
  const wrap = (s: string, type_id: number): unknown[] => [...(bos ? [sp(bos, type_id)] : []), seq(s, type_id), ...(eos ? [sp(eos, type_id)] : [])];
  const special_tokens: Record<string, unknown> = {};
  for (const t of [bos, eos]) if (t) special_tokens[t] = { id: t, ids: [ids.get(t)!], tokens: [t] };
  return { type: 'TemplateProcessing', single: wrap('A', 0), pair: [...wrap('A', 0), ...wrap('B', 1)], special_tokens };
}

export interface RebuiltTokenizer {
  tokenizerJson: TokenizerJson;
  tokenizerConfig: TokenizerConfig;
  bosTokenId?: number;
  eosTokenId?: number;
}

/** Rebuilds tokenizer.json + tokenizer_config.json from a GGUF file's tokenizer metadata. */
export function tokenizerFromGguf(g: GgufFile, file: string): RebuiltTokenizer {
  const kind = metaValue(g, 'tokenizer.ggml.model');
  const tokens = metaValue(g, 'tokenizer.ggml.tokens') as string[] | undefined;
  if (!tokens) throw mismatch(file, 'tokenizer.ggml.tokens', 'the file has no tokenizer.ggml.tokens; it carries no tokenizer');
  const types = (metaValue(g, 'tokenizer.ggml.token_type') as number[] | undefined) ?? tokens.map(() => TokenType.NORMAL);
  if (types.length !== tokens.length) throw mismatch(file, 'tokenizer.ggml.token_type', `tokenizer.ggml.token_type has ${types.length} entries but there are ${tokens.length} tokens`);
  const idOf = (key: string): number | undefined => {
    const v = metaValue(g, key);
    return typeof v === 'number' && v >= 0 && v < tokens.length ? v : undefined;
  };
  const bosId = idOf('tokenizer.ggml.bos_token_id');
  const eosId = idOf('tokenizer.ggml.eos_token_id');
  const unkId = idOf('tokenizer.ggml.unknown_token_id');
  const padId = idOf('tokenizer.ggml.padding_token_id');
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => { if (!(t in vocab)) vocab[t] = i; });
  const ids = new Map(Object.entries(vocab));
  const addedTokens: AddedToken[] = [];
  tokens.forEach((t, i) => {
    const ty = types[i];
    if (ty === TokenType.CONTROL || ty === TokenType.UNKNOWN || i === unkId) addedTokens.push(added(i, t, true));
    else if (ty === TokenType.USER_DEFINED) addedTokens.push(added(i, t, false));
  });
  const addBosMeta = metaValue(g, 'tokenizer.ggml.add_bos_token') as boolean | undefined;
  const addEos = (metaValue(g, 'tokenizer.ggml.add_eos_token') as boolean | undefined) ?? false;
  const bos = bosId !== undefined ? tokens[bosId] : undefined;
  const eos = eosId !== undefined ? tokens[eosId] : undefined;
  let tokenizerJson: TokenizerJson;
  let addBos: boolean;
  let extraConfig: TokenizerConfig = {};

  if (kind === 'llama') {
    const scores = metaValue(g, 'tokenizer.ggml.scores') as number[] | undefined;
    if (!scores || scores.length !== tokens.length) throw mismatch(file, 'tokenizer.ggml.scores', 'a SentencePiece (llama) tokenizer needs one score per token in tokenizer.ggml.scores');
    addBos = addBosMeta ?? true;
    const prefix = (metaValue(g, 'tokenizer.ggml.add_space_prefix') as boolean | undefined) ?? true;
    const replace = { type: 'Replace', pattern: { String: ' ' }, content: '▁' };
    tokenizerJson = {
      version: '1.0', truncation: null, padding: null, added_tokens: addedTokens,
      normalizer: prefix ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, replace] } : replace,
      pre_tokenizer: null,
      post_processor: template(addBos ? bos : undefined, addEos ? eos : undefined, ids),
      decoder: { type: 'Sequence', decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' },
        ...(prefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ] },
      model: {
        type: 'BPE', dropout: null, unk_token: unkId !== undefined ? tokens[unkId] : null, continuing_subword_prefix: null,
        end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab,
        merges: mergesFromScores(tokens, scores),
      },
    };
    extraConfig = { legacy: true, tokenizer_class: 'LlamaTokenizer', add_prefix_space: null };
  } else if (kind === 'gpt2') {
    const pre = (metaValue(g, 'tokenizer.ggml.pre') as string | undefined) ?? 'default';
    const row = PRE_TOKENIZERS.find((r) => r.names.includes(pre));
    if (!row) throw unsupported(file, 'tokenizer.ggml.pre', `the tokenizer's pre-tokenizer is "${pre}", which Attune cannot rebuild yet; supported: ${PRE_TOKENIZERS.flatMap((r) => r.names).join(', ')}`);
    const mergesRaw = (metaValue(g, 'tokenizer.ggml.merges') as string[] | undefined) ?? [];
    const merges = mergesRaw.map((m, i): [string, string] => {
      const parts = m.split(' ');
      if (parts.length !== 2) throw mismatch(file, 'tokenizer.ggml.merges', `merge #${i} ${JSON.stringify(m)} is not two tokens separated by one space`);
      return parts as [string, string];
    });
    addBos = addBosMeta ?? row.addBos;
    tokenizerJson = {
      version: '1.0', truncation: null, padding: null, added_tokens: addedTokens,
      normalizer: row.normalizer, pre_tokenizer: row.preTokenizer,
      post_processor: template(addBos ? bos : undefined, addEos ? eos : undefined, ids),
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
        fuse_unk: false, byte_fallback: false, ignore_merges: row.ignoreMerges, vocab, merges,
      },
    };
    extraConfig = { tokenizer_class: 'PreTrainedTokenizerFast' };
  } else {
    throw unsupported(file, 'tokenizer.ggml.model', `the tokenizer type is ${JSON.stringify(kind)}; Attune can rebuild "llama" (SentencePiece) and "gpt2" (byte-level BPE) tokenizers`);
  }

  const added_tokens_decoder: Record<string, unknown> = {};
  for (const a of addedTokens) added_tokens_decoder[String(a.id)] = { content: a.content, lstrip: false, normalized: a.normalized, rstrip: false, single_word: false, special: a.special };
  const tokenizerConfig: TokenizerConfig = {
    add_bos_token: addBos, add_eos_token: addEos, added_tokens_decoder,
    bos_token: bos ?? null, eos_token: eos ?? null, unk_token: unkId !== undefined ? tokens[unkId] : null,
    pad_token: padId !== undefined ? tokens[padId] : null,
    clean_up_tokenization_spaces: false, model_max_length: (metaValue(g, `${String(metaValue(g, 'general.architecture'))}.context_length`) as number | undefined) ?? null,
    ...extraConfig,
  };
  const chat = metaValue(g, 'tokenizer.chat_template');
  if (typeof chat === 'string') tokenizerConfig.chat_template = chat;
  return { tokenizerJson, tokenizerConfig, bosTokenId: bosId, eosTokenId: eosId };
}

// ---- export: tokenizer.json -> GGUF metadata ----

const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function contentOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/**
 * GGUF tokenizer metadata (in llama.cpp's key order) from a HF tokenizer.json and
 * tokenizer_config.json. SentencePiece-style scores, which tokenizer.json does not keep, are
 * derived from the merge order: the piece made by merge r scores -r, so llama.cpp's
 * score-driven merging follows the same order as the HF merges.
 */
export function tokenizerToGgufMetadata(tj: TokenizerJson, tc: TokenizerConfig, file: string): [string, GgufValue][] {
  const model = tj.model;
  if (model?.type !== 'BPE') throw unsupported(file, 'tokenizer.json model.type', `the tokenizer model is ${JSON.stringify(model?.type)}; Attune exports BPE tokenizers only`);
  const vocab = model.vocab as Record<string, number>;
  const addedList = (tj.added_tokens ?? []) as AddedToken[];
  let n = 0;
  for (const id of Object.values(vocab)) n = Math.max(n, id + 1);
  for (const a of addedList) n = Math.max(n, a.id + 1);
  const tokens: string[] = new Array(n).fill(undefined);
  for (const [t, id] of Object.entries(vocab)) tokens[id] = t;
  for (const a of addedList) tokens[a.id] = a.content;
  const types = tokens.map((t) => (t !== undefined && BYTE_PIECE.test(t) && model.byte_fallback ? TokenType.BYTE : TokenType.NORMAL)) as number[];
  const unk = typeof model.unk_token === 'string' ? vocab[model.unk_token] : undefined;
  for (const a of addedList) types[a.id] = a.id === unk ? TokenType.UNKNOWN : a.special ? TokenType.CONTROL : TokenType.USER_DEFINED;
  for (let i = 0; i < n; i++) if (tokens[i] === undefined) { tokens[i] = `[PAD${i}]`; types[i] = TokenType.UNUSED; }

  const mergesRaw = (model.merges ?? []) as (string | [string, string])[];
  const merges = mergesRaw.map((m) => (typeof m === 'string' ? (m.split(' ') as [string, string]) : m));
  const idOf = (t: unknown): number | undefined => { const c = contentOf(t); return c === undefined ? undefined : tokens.indexOf(c) >= 0 ? tokens.indexOf(c) : undefined; };

  const kv: [string, GgufValue][] = [];
  const ids: [string, number | undefined][] = [
    ['tokenizer.ggml.bos_token_id', idOf(tc.bos_token)], ['tokenizer.ggml.eos_token_id', idOf(tc.eos_token)],
    ['tokenizer.ggml.unknown_token_id', unk], ['tokenizer.ggml.padding_token_id', idOf(tc.pad_token)],
  ];
  const normalizers = JSON.stringify(tj.normalizer ?? null);
  const spm = model.byte_fallback === true && normalizers.includes('"content":"▁"');
  if (spm) {
    // score(piece) = -(rank of the first merge producing it); other pieces sit below every merge.
    const rank = new Map<string, number>();
    merges.forEach(([l, r], i) => { const p = l + r; if (!rank.has(p)) rank.set(p, i); });
    const scores = tokens.map((t, i) => (types[i] !== TokenType.NORMAL ? 0 : rank.has(t) ? -rank.get(t)! : -(merges.length + i)));
    kv.push(['tokenizer.ggml.model', gv.str('llama')]);
    kv.push(['tokenizer.ggml.tokens', gv.arr('STRING', tokens)]);
    kv.push(['tokenizer.ggml.scores', gv.arr('FLOAT32', scores)]);
    kv.push(['tokenizer.ggml.token_type', gv.arr('INT32', types)]);
    if (!normalizers.includes('"Prepend"')) kv.push(['tokenizer.ggml.add_space_prefix', gv.bool(false)]);
  } else {
    const row = PRE_TOKENIZERS.find((r) => sameJson(r.preTokenizer, tj.pre_tokenizer) || (r.names[0] === 'gpt-2' && sameJson({ ...byteLevel(true), trim_offsets: undefined }, { ...(tj.pre_tokenizer as object), trim_offsets: undefined })));
    if (!row) throw unsupported(file, 'tokenizer.json pre_tokenizer', `the pre-tokenizer ${JSON.stringify(tj.pre_tokenizer).slice(0, 200)} matches none Attune can name for llama.cpp (${PRE_TOKENIZERS.map((r) => r.names[0]).join(', ')})`);
    kv.push(['tokenizer.ggml.model', gv.str('gpt2')]);
    kv.push(['tokenizer.ggml.pre', gv.str(row.names[0]!)]);
    kv.push(['tokenizer.ggml.tokens', gv.arr('STRING', tokens)]);
    kv.push(['tokenizer.ggml.token_type', gv.arr('INT32', types)]);
    kv.push(['tokenizer.ggml.merges', gv.arr('STRING', merges.map(([l, r]) => `${l} ${r}`))]);
  }
  for (const [k, id] of ids) if (id !== undefined) kv.push([k, gv.u32(id)]);
  if (typeof tc.add_bos_token === 'boolean') kv.push(['tokenizer.ggml.add_bos_token', gv.bool(tc.add_bos_token)]);
  if (typeof tc.add_eos_token === 'boolean') kv.push(['tokenizer.ggml.add_eos_token', gv.bool(tc.add_eos_token)]);
  if (typeof tc.chat_template === 'string') kv.push(['tokenizer.chat_template', gv.str(tc.chat_template)]);
  return kv;
}
