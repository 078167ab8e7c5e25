/** The file formats Attune reads examples from and writes tuned models to: one list each. */

/**
 * alpaca/dolly/sharegpt/openai: JSON array or JSONL records of that shape; qa: question/answer
 * pairs (JSON(L) with question/answer or prompt/completion keys, or plain text with Q:/A: lines);
 * csv: any delimited text (comma, semicolon, tab, pipe); xlsx: an Excel workbook; preference:
 * JSON(L) pairs with `chosen` and `rejected` answers (TRL, Anthropic HH, LLaMA-Factory; see
 * src/engine/data/preference.ts).
 */
export const DATA_FORMATS = ['alpaca', 'dolly', 'sharegpt', 'openai', 'qa', 'csv', 'xlsx', 'preference'] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

/** A data format, or 'auto' to detect it from the file. */
export const DATA_FORMAT_CHOICES = ['auto', ...DATA_FORMATS] as const;
export type DataFormatChoice = (typeof DATA_FORMAT_CHOICES)[number];

/** What `attune export` writes: the PEFT adapter, a merged Hugging Face folder, or a GGUF file. */
export const EXPORT_FORMATS = ['peft', 'merged', 'gguf-f32', 'gguf-f16', 'gguf-q8_0', 'gguf-q4'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Formats the app does not offer (F32 GGUF is as large as the model and only for the CLI). */
export const CLI_ONLY_EXPORT_FORMATS = ['gguf-f32'] as const;
export type AppExportFormat = Exclude<ExportFormat, (typeof CLI_ONLY_EXPORT_FORMATS)[number]>;

/** What the app says it reads, in words (the data formats above, as a person knows their files). */
export const READABLE_IN_WORDS = 'a CSV file, an Excel workbook (.xlsx), a JSON or JSONL file, or a plain text file with Q: and A: lines';
