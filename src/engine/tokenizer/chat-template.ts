/**
 * Chat templates are Jinja, rendered by @huggingface/jinja exactly as transformers'
 * `apply_chat_template` would (messages, bos/eos tokens, add_generation_prompt).
 */
import { Template } from '@huggingface/jinja';
import type { TemplateName } from '../../shared/templates.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Named templates for models that have none (or to override theirs). */
export const NAMED_TEMPLATES: Readonly<Record<string, string>> = {
  alpaca:
    "{{ bos_token }}{% if messages and messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}" +
    "{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}" +
    "{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' + message['content'] + eos_token + '\\n\\n' }}{% endif %}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}",
  chatml:
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  llama3:
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
} satisfies Record<TemplateName, string>;

export class ChatTemplate {
  private readonly template: Template;
  constructor(
    readonly source: string,
    private readonly specials: { bos_token?: string; eos_token?: string },
  ) {
    this.template = new Template(source);
  }

  render(messages: ChatMessage[], opts: { addGenerationPrompt: boolean }): string {
    return this.template.render({
      messages,
      add_generation_prompt: opts.addGenerationPrompt,
      ...this.specials,
    });
  }
}
