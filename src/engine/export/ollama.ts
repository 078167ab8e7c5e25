/**
 * The chat template an export carries, in the two languages the runtimes speak: Jinja (HF
 * tokenizer_config.json, GGUF `tokenizer.chat_template`) and Go templates (Ollama's Modelfile).
 *
 * Jinja cannot be translated to Go in general, so Ollama templates come from a table, one row per
 * template Attune knows. A model's own template is matched to a row by rendering probe
 * conversations with both and comparing the text (stories260K's own Alpaca-style template renders
 * exactly like `alpaca`); a template that matches no row gets a generic Go template and a warning.
 *
 * The Go templates use Ollama's .System/.Prompt/.Response form: Ollama repeats the template for
 * each earlier turn and cuts the last one after {{ .Response }}. No BOS: llama.cpp adds it itself
 * (tokenizer.ggml.add_bos_token).
 */
import { ChatTemplate, NAMED_TEMPLATES, type ChatMessage } from '../tokenizer/chat-template.js';

export interface OllamaTemplateRow {
  /** Go template; `{eos}` is replaced by the model's end-of-sequence token text. */
  template: string;
  /** Stop strings besides the stop tokens: the start of a next turn, should the model go on. */
  stops: string[];
}

export const OLLAMA_TEMPLATES: Record<string, OllamaTemplateRow> = {
  alpaca: {
    template:
      '{{ if .System }}{{ .System }}\n\n{{ end }}' +
      '{{ if .Prompt }}### Instruction:\n{{ .Prompt }}\n\n{{ end }}' +
      '### Response:\n{{ .Response }}{eos}\n\n',
    stops: ['### Instruction:'],
  },
  chatml: {
    template:
      '{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}' +
      '{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}' +
      '<|im_start|>assistant\n{{ .Response }}<|im_end|>\n',
    stops: ['<|im_start|>', '<|im_end|>'],
  },
  llama3: {
    template:
      '{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}' +
      '{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>',
    stops: ['<|start_header_id|>', '<|eot_id|>'],
  },
};

/** Used when the template is none Attune knows: plain turns, which any model can at least continue. */
export const GENERIC_OLLAMA_TEMPLATE = '{{ if .System }}{{ .System }}\n\n{{ end }}{{ if .Prompt }}{{ .Prompt }}\n\n{{ end }}{{ .Response }}';

const PROBES: { messages: ChatMessage[]; addGenerationPrompt: boolean }[] = [
  { messages: [{ role: 'user', content: 'Where is my order?' }], addGenerationPrompt: true },
  {
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello, how can I help?' },
      { role: 'user', content: 'Refund please' },
    ],
    addGenerationPrompt: true,
  },
];

/**
 * The NAMED_TEMPLATES key whose renderings equal `source`'s, or undefined. `source` may itself be
 * a named template's text.
 */
export function identifyTemplate(source: string, specials: { bos_token?: string; eos_token?: string }): string | undefined {
  const render = (src: string): string[] | undefined => {
    try {
      const t = new ChatTemplate(src, { bos_token: specials.bos_token ?? '', eos_token: specials.eos_token ?? '' });
      return PROBES.map((p) => t.render(p.messages, { addGenerationPrompt: p.addGenerationPrompt }));
    } catch {
      return undefined;
    }
  };
  const mine = render(source);
  if (!mine) return undefined;
  for (const [name, src] of Object.entries(NAMED_TEMPLATES)) {
    const theirs = render(src);
    if (theirs && theirs.every((s, i) => s === mine[i])) return name;
  }
  return undefined;
}

export interface ModelfileOptions {
  /** File name of the GGUF next to the Modelfile. */
  ggufFile: string;
  /** Name suggested for `ollama create`. */
  name?: string;
  /** Jinja source of the chat template the adapter was trained with. */
  chatTemplate?: string;
  bosToken?: string;
  eosToken?: string;
  /** Token texts that end a turn (PARAMETER stop). */
  stopTokens: string[];
  system?: string;
}

export interface Modelfile {
  text: string;
  /** The table row used, or 'generic'. */
  template: string;
  warning?: string;
}

/** An Ollama Modelfile: FROM the merged GGUF (Ollama 0.34.1+ refuses ADAPTER), TEMPLATE, stops, SYSTEM. */
export function buildModelfile(o: ModelfileOptions): Modelfile {
  const named = o.chatTemplate ? identifyTemplate(o.chatTemplate, { bos_token: o.bosToken, eos_token: o.eosToken }) : undefined;
  const row = named ? OLLAMA_TEMPLATES[named] : undefined;
  const template = row ? row.template.replaceAll('{eos}', o.eosToken ?? '') : GENERIC_OLLAMA_TEMPLATE;
  const lines = [
    `# Ollama: ollama create ${o.name ?? 'my-model'} -f Modelfile && ollama run ${o.name ?? 'my-model'}`,
    `FROM ./${o.ggufFile}`,
    `TEMPLATE ${goString(template)}`,
    ...[...new Set([...o.stopTokens, ...(row?.stops ?? [])])].filter((s) => s.length > 0).map((s) => `PARAMETER stop ${JSON.stringify(s)}`),
  ];
  if (o.system) lines.push(`SYSTEM ${goString(o.system)}`);
  return {
    text: lines.join('\n') + '\n',
    template: row ? named! : 'generic',
    warning: row
      ? undefined
      : `The chat template is not one Attune can translate for Ollama (${Object.keys(OLLAMA_TEMPLATES).join(', ')}), so the Modelfile uses a generic one; edit its TEMPLATE to match the model's format. The GGUF itself carries the exact template for llama.cpp and LM Studio.`,
  };
}

/** Modelfile string literal: triple quotes keep newlines; they cannot contain `"""`. */
function goString(s: string): string {
  if (!s.includes('"""') && !s.endsWith('"')) return `"""${s}"""`;
  return JSON.stringify(s);
}
