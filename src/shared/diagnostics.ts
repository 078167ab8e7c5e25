/**
 * The one catalogue of user-facing messages (STYLE habit 15, after TypeScript's
 * diagnosticMessages.json). Every problem the engine reports about a person's data and every
 * error Attune shows (AttuneError, WeightsError) cites a stable id `<area>.<name>` from this
 * table; the CLI and the UI render the same entry with `formatDiagnostic`.
 *
 * Templates are plain language for someone who has never programmed. Placeholders are written
 * `{name}` and filled from the problem's params; `{where}` is the location ("Row 12 (sheet
 * 'Answers')", "Line 5") and `{field}` the place inside it ("the Response column", "the "output"
 * field"), both worded by the engine that found the problem.
 *
 * An error carries `errorCode` to the CLI's --json output and the app (`AttuneError.code`): the
 * id itself unless the entry names an older code that scripts and the app already rely on.
 *
 * This file is in `shared`: no Node, DOM or Electron imports.
 */

export type Severity = 'fatal' | 'error' | 'warning' | 'info';

export interface DiagnosticEntry {
  /** Stable identifier, `<area>.<name>`; never reuse a code for a different meaning. */
  readonly code: string;
  /**
   * fatal: the whole file (or command) cannot go on; error: this example is left out because
   * something in it is wrong; warning: left out or kept, but worth a look; info: for the record.
   */
  readonly severity: Severity;
  readonly template: string;
  /** The code an error with this message carries (CLI --json, the app's errors); defaults to `code`. */
  readonly errorCode: string;
}

/** Values for a template's `{name}` placeholders. */
export type DiagnosticParams = Record<string, string | number | undefined>;

function entries<const T extends Record<string, { severity: Severity; template: string; errorCode?: string }>>(
  table: T,
): { readonly [K in keyof T]: DiagnosticEntry & { code: K } } {
  const out: Record<string, DiagnosticEntry> = {};
  for (const [code, e] of Object.entries(table)) out[code] = { code, errorCode: e.errorCode ?? code, severity: e.severity, template: e.template };
  return out as { readonly [K in keyof T]: DiagnosticEntry & { code: K } };
}

export const DIAGNOSTICS = entries({
  // ── adapter: LoRA adapters ─────────────────────────────────────────────────────────────────
  'adapter.config-invalid': { severity: 'fatal', errorCode: 'adapter-invalid', template: '{file} is not valid JSON ({detail}).' },
  'adapter.file-missing': { severity: 'fatal', errorCode: 'adapter-missing', template: '{file} is missing: an adapter folder needs {config} and {weights}.' },
  'adapter.not-lora': { severity: 'fatal', errorCode: 'adapter-invalid', template: '{file}: peft_type is {peftType}; Attune reads LoRA adapters only.' },
  'adapter.pickle': {
    severity: 'fatal',
    errorCode: 'adapter-missing',
    template:
      '{dir} holds adapter_model.bin, a pickle file that could run code when opened; Attune only reads adapter_model.safetensors.',
  },
  'adapter.rank-mismatch': {
    severity: 'fatal',
    errorCode: 'adapter-mismatch',
    template:
      'The starting adapter has rank {rank} on {targets}, but this run uses rank {runRank} on {runTargets}. Use the same rank and targets.',
  },
  'adapter.size-mismatch': {
    severity: 'fatal',
    errorCode: 'adapter-mismatch',
    template:
      'The starting adapter\'s {tensor} has {have} values, but this run needs {need} (different rank or model).',
  },
  'adapter.tensor-missing': {
    severity: 'fatal',
    errorCode: 'adapter-mismatch',
    template:
      '{file}: the tensor {tensor} is missing; the adapter does not fit this model.',
  },
  'adapter.tensor-shape': {
    severity: 'fatal',
    errorCode: 'adapter-mismatch',
    template:
      '{file}: {tensor} has shape [{shape}] but this model needs [{expected}]; the adapter was trained for a different model.',
  },
  'adapter.token-rows-missing': {
    severity: 'fatal',
    errorCode: 'adapter-mismatch',
    template:
      '{file}: trained token rows are listed in {config} but the file does not hold them.',
  },

  // ── app: the app and its requests ──────────────────────────────────────────────────────────
  'app.bad-request': { severity: 'fatal', errorCode: 'bad-request', template: 'The request was not valid{where}: {issue}.' },
  'app.engine-missing': {
    severity: 'fatal',
    errorCode: 'engine-missing',
    template:
      'This part of Attune is not finished yet: the engine has no {name}() in this build.',
  },
  'app.file-not-found': { severity: 'fatal', errorCode: 'file-not-found', template: 'A file was not found: {path}' },
  'app.internal': { severity: 'fatal', errorCode: 'internal', template: 'Something went wrong inside Attune: {detail}' },
  'app.sample-missing': { severity: 'fatal', errorCode: 'sample-missing', template: 'The bundled sample is missing from this installation.' },
  'app.template-unknown': { severity: 'fatal', errorCode: 'template-unknown', template: 'There is no chat template named “{name}”. Choose one of: {names}.' },
  'app.unknown-call': { severity: 'fatal', errorCode: 'unknown-call', template: 'Unknown request.' },

  // ── chat: chatting with a model ────────────────────────────────────────────────────────────
  'chat.closed': { severity: 'fatal', errorCode: 'chat-closed', template: 'This chat was closed. Open it again.' },
  'chat.no-adapter': { severity: 'fatal', errorCode: 'chat-no-adapter', template: 'There is no tuned model in this chat yet. Finish a training run first.' },
  'chat.prompt-too-long': {
    severity: 'fatal',
    errorCode: 'prompt-too-long',
    template:
      'The conversation is {tokens} tokens long, but this model reads at most {max}. Shorten it.',
  },
  'chat.stream-busy': { severity: 'fatal', errorCode: 'chat-stream-busy', template: 'That answer is already being written.' },
  'chat.template-missing': {
    severity: 'fatal',
    errorCode: 'template-missing',
    template:
      'This model has no chat template, so Attune does not know how to format a conversation for it. Choose one of Attune\'s templates (alpaca, chatml or llama3).',
  },

  // ── cli: the command line (names its flags) ────────────────────────────────────────────────
  'cli.export-adapter-missing': {
    severity: 'fatal',
    errorCode: 'export-adapter-missing',
    template:
      'A PEFT export needs the adapter folder: pass --adapter <dir>.',
  },
  'cli.export-exists': { severity: 'fatal', errorCode: 'export-exists', template: '{out} already exists; pass --force to replace it.' },
  'cli.model-not-found': { severity: 'fatal', errorCode: 'model-not-found', template: 'There is no model at {path}.' },
  'cli.serve-port-in-use': {
    severity: 'fatal',
    errorCode: 'serve-port-in-use',
    template:
      'Port {port} is already in use on 127.0.0.1; choose another with --port.',
  },
  'cli.estimate-needs': { severity: 'fatal', errorCode: 'usage', template: 'attune tune --estimate needs --{option}.' },
  'cli.tune-needs': { severity: 'fatal', errorCode: 'usage', template: 'attune tune needs --{option} (or --resume <runDir>).' },

  // ── data: imported examples and the Data step ──────────────────────────────────────────────
  'data.example-missing': { severity: 'fatal', errorCode: 'example-missing', template: 'There is no example number {number}.' },
  'data.fix-line-missing': { severity: 'fatal', errorCode: 'fix-line-missing', template: 'The file has no line {line}.' },
  'data.fix-not-line-based': {
    severity: 'fatal',
    errorCode: 'fix-not-line-based',
    template:
      'Rows of this kind of file cannot be edited here; fix it in its own program and add it again.',
  },
  'data.fix-one-line': { severity: 'fatal', errorCode: 'fix-one-line', template: 'A row must stay on one line.' },
  'data.imported-line-invalid': {
    severity: 'fatal',
    errorCode: 'data.invalid-json',
    template:
      'Line {line} of {file} is not valid JSON; this file should be written by Attune\'s importer.',
  },
  'data.imported-line-shape': { severity: 'fatal', errorCode: 'data.wrong-type', template: 'Line {line} of {file} is not an imported example ({detail}).' },
  'data.nothing-imported': { severity: 'fatal', errorCode: 'data-nothing-imported', template: 'Nothing could be imported from this file.' },
  'data.template-changes-tokens': {
    severity: 'fatal',
    errorCode: 'data.template-unstable',
    template:
      'The chat template changes earlier tokens when message {message} is added (first difference at token {token}), so the answer\'s tokens cannot be told apart.',
  },

  // ── eval: the held-out review ──────────────────────────────────────────────────────────────
  'eval.choose-data': {
    severity: 'fatal',
    errorCode: 'eval-no-data',
    template:
      'Choose the examples to review: this adapter is not inside a run folder with its own data.',
  },
  'eval.no-usable-examples': { severity: 'fatal', errorCode: 'eval-no-data', template: 'No usable examples in {file}.' },
  'eval.no-validation': {
    severity: 'fatal',
    errorCode: 'eval-no-data',
    template:
      'There are no held-out examples to review: the data set is too small for a validation split.',
  },

  // ── export: exporting a tuned model ────────────────────────────────────────────────────────
  'export.adapter-missing': { severity: 'fatal', errorCode: 'export-adapter-missing', template: 'A PEFT export needs the tuned adapter folder.' },
  'export.appeared': {
    severity: 'fatal',
    errorCode: 'export-exists',
    template:
      '{out} appeared while exporting. Choose another folder, or confirm that it may be replaced.',
  },
  'export.exists': { severity: 'fatal', errorCode: 'export-exists', template: '{out} already exists. Choose another folder, or confirm that it may be replaced.' },
  'export.format': { severity: 'fatal', errorCode: 'export-format', template: '"{format}" is not an export format; choose one of {formats}.' },
  'export.missing': { severity: 'fatal', errorCode: 'export-missing', template: 'That export is not in this project.' },
  'export.out-unsafe': {
    severity: 'fatal',
    errorCode: 'export-out-unsafe',
    template:
      '{out} cannot be the export folder: it holds the model, the adapter or other files that replacing it would delete. Choose a new folder.',
  },
  'export.saved-before': { severity: 'fatal', errorCode: 'export-exists', template: 'This run was already saved in this form. Replace the earlier copy?' },
  'export.template-unknown': {
    severity: 'fatal',
    errorCode: 'template-unknown',
    template:
      'The adapter was trained with a chat template named "{name}", which this version of Attune does not know.',
  },
  'export.tensor-unnamed': { severity: 'fatal', errorCode: 'export-tensor', template: 'The tensor {tensor} has no Hugging Face name; Attune cannot export it.' },

  // ── model: reading a model ─────────────────────────────────────────────────────────────────
  'model.config-field-missing': { severity: 'fatal', errorCode: 'model-config-field', template: '{file}: the field "{key}" is missing.' },
  'model.config-field-not-count': {
    severity: 'fatal',
    errorCode: 'model-config-field',
    template:
      '{file}: the field "{key}" should be a positive whole number, not {value}.',
  },
  'model.config-field-not-number': { severity: 'fatal', errorCode: 'model-config-field', template: '{file}: the field "{key}" should be a number, not {value}.' },
  'model.config-head-dim': { severity: 'fatal', errorCode: 'model-config-field', template: '{file}: the head size ({headDim}) must be an even whole number.' },
  'model.config-invalid': { severity: 'fatal', errorCode: 'model-config-invalid', template: '{file} is not valid JSON ({detail}).' },
  'model.config-kv-heads': {
    severity: 'fatal',
    errorCode: 'model-config-field',
    template:
      '{file}: {heads} attention heads cannot be shared evenly by {kvHeads} key-value heads.',
  },
  'model.config-missing': {
    severity: 'fatal',
    errorCode: 'model-config-missing',
    template:
      '{file} is missing: a Hugging Face model folder needs its config.json.',
  },
  'model.config-rope-scaling': { severity: 'fatal', errorCode: 'model-config-field', template: '{file}: "rope_scaling" should be an object.' },
  'model.folder-invalid': {
    severity: 'fatal',
    errorCode: 'model-folder-invalid',
    template:
      'That folder has no config.json. Choose the folder that holds the model’s config.json and .safetensors files.',
  },
  'model.format': {
    severity: 'fatal',
    errorCode: 'model-format',
    template:
      '{path} is not a model Attune can read. Give a Hugging Face model folder or a .gguf file.',
  },
  'model.not-found': { severity: 'fatal', errorCode: 'model-not-found', template: "{path} does not exist. Give a model folder (with config.json), a .gguf file, or a downloaded Hugging Face model's name (organisation/model)." },
  'model.not-in-workspace': { severity: 'fatal', errorCode: 'model-unknown', template: 'That model is not in the workspace. Add it from the Model step first.' },
  'model.pickle': {
    severity: 'fatal',
    errorCode: 'model-pickle',
    template:
      '{file} is a PyTorch pickle checkpoint, which can run arbitrary code when opened, so Attune refuses it. Use the model\'s .safetensors files (most Hugging Face models have them) or a .gguf file.',
  },
  'model.rope-unsupported': {
    severity: 'fatal',
    errorCode: 'model-rope-unsupported',
    template:
      '{file}: the RoPE scaling type "{type}" is not supported yet (supported: llama3, linear).',
  },
  'model.tensor-unexpected': { severity: 'fatal', errorCode: 'model-weight-unexpected', template: '{file}: the tensor "{tensor}" is not part of a {arch} model.' },
  'model.tokenizer-mismatch': {
    severity: 'fatal',
    errorCode: 'tokenizer-mismatch',
    template:
      '{file}: the tokenizer has {tokens} tokens but the model only knows {vocab}; the tokenizer belongs to a different model.',
  },
  'model.unreadable': { severity: 'fatal', errorCode: 'model-unreadable', template: 'This model cannot be read.' },
  'model.unsupported-architecture': {
    severity: 'fatal',
    errorCode: 'model-unsupported-architecture',
    template:
      '{file}: the model type "{modelType}" is not supported. Attune can tune: {supported}.',
  },
  'model.weight-missing': { severity: 'fatal', errorCode: 'model-weight-missing', template: '{file}: the weight "{weight}" is missing.' },
  'model.weight-missing-for-config': {
    severity: 'fatal',
    errorCode: 'model-weight-missing',
    template:
      '{file}: the weight "{weight}" is missing; the weights do not match {settings}.',
  },
  'model.weight-shape': {
    severity: 'fatal',
    errorCode: 'model-weight-shape',
    template:
      '{file}: the weight "{weight}" has shape [{shape}] but {settings} implies [{expected}]{vocab}.',
  },
  'model.weight-unexpected': {
    severity: 'fatal',
    errorCode: 'model-weight-unexpected',
    template:
      '{file}: the weight "{weight}" is not part of a {arch} model with these settings ({settings}).',
  },
  'model.weights-missing': { severity: 'fatal', errorCode: 'model-weights-missing', template: '{dir} has no .safetensors weights.' },

  // ── project: projects in the workspace ─────────────────────────────────────────────────────
  'project.data-missing': { severity: 'fatal', errorCode: 'data-missing', template: 'That file is no longer in the project. Add it again.' },
  'project.exists': { severity: 'fatal', errorCode: 'project-exists', template: 'A project called "{name}" already exists. Open it, or choose another name.' },
  'project.file-name': { severity: 'fatal', errorCode: 'file-name', template: 'That file name cannot be used; rename the file and try again.' },
  'project.missing': { severity: 'fatal', errorCode: 'project-missing', template: 'There is no project called "{name}" in the workspace.' },
  'project.name': { severity: 'fatal', errorCode: 'project-name', template: 'Not a valid project name.' },

  // ── run: training runs in a project ────────────────────────────────────────────────────────
  'run.missing': { severity: 'fatal', errorCode: 'run-missing', template: 'That training run is not in this project.' },
  'run.not-done': { severity: 'fatal', errorCode: 'run-not-done', template: 'This run has not finished yet. Finish tuning first.' },
  'run.not-resumable': {
    severity: 'fatal',
    errorCode: 'run-not-resumable',
    template:
      'This run has no saved checkpoint to continue from. Start a new run instead.',
  },
  'run.not-running': { severity: 'fatal', errorCode: 'run-not-running', template: 'That run is not training right now.' },

  // ── serve: the OpenAI-compatible server ────────────────────────────────────────────────────
  'serve.host': {
    severity: 'fatal',
    errorCode: 'serve-host',
    template:
      'Attune serves on this computer only (127.0.0.1), not on {host}: the model and the conversations stay on this machine.',
  },
  'serve.port': { severity: 'fatal', errorCode: 'serve-port', template: 'The port must be a whole number from 1 to 65535, not {port}.' },
  'serve.port-denied': { severity: 'fatal', errorCode: 'serve-port', template: 'This user may not open port {port}; choose a port above 1024.' },
  'serve.port-in-use': { severity: 'fatal', errorCode: 'serve-port-in-use', template: 'Port {port} is already in use on 127.0.0.1; choose another port.' },

  // ── tokenizer: tokenizers and chat templates ───────────────────────────────────────────────
  'tokenizer.invalid': { severity: 'fatal', errorCode: 'tokenizer-invalid', template: '{file} is not valid JSON ({detail}).' },
  'tokenizer.missing': {
    severity: 'fatal',
    errorCode: 'tokenizer-missing',
    template:
      '{file} is missing: the model folder needs its tokenizer.json to turn text into tokens.',
  },
  'tokenizer.template-missing': {
    severity: 'fatal',
    errorCode: 'template-missing',
    template:
      'This model has no chat template. Choose one of Attune\'s templates (alpaca, chatml or llama3).',
  },
  'tokenizer.template-unknown': {
    severity: 'fatal',
    errorCode: 'template-unknown',
    template:
      'There is no chat template named "{name}". Choose one of: model, {names}.',
  },

  // ── tune: tuning ───────────────────────────────────────────────────────────────────────────
  'tune.base-weights': { severity: 'fatal', errorCode: 'tune-setting', template: 'The base weights can be stored as {choices}, not "{value}".' },
  'tune.busy': { severity: 'fatal', errorCode: 'tune-busy', template: 'Another training run is in progress. Pause or cancel it first, then start this one.' },
  'tune.checkpoint-corrupt': { severity: 'fatal', errorCode: 'checkpoint-corrupt', template: 'The checkpoint in {dir} cannot be read ({detail}).' },
  'tune.checkpoint-mismatch': {
    severity: 'fatal',
    errorCode: 'checkpoint-mismatch',
    template:
      'The checkpoint in {dir} does not match this run\'s settings (missing {tensor}).',
  },
  'tune.data-not-imported': { severity: 'fatal', errorCode: 'data-not-imported', template: 'Import your examples in the Data step first.' },
  'tune.device-f16': {
    severity: 'fatal',
    errorCode: 'tune-device-f16',
    template:
      '{device} cannot compute with half-precision numbers, so it cannot keep the base model at half size (f16). Choose the exact (f32), quarter (int8) or eighth (int4) size for the base model, or run on the CPU.',
  },
  'tune.failed': { severity: 'fatal', errorCode: 'tune-failed', template: 'Training stopped with an error: {detail}' },
  'tune.lora-dropout': { severity: 'fatal', errorCode: 'tune-setting', template: 'LoRA dropout must be at least 0 and below 1 (got {value}).' },
  'tune.no-training-data': { severity: 'fatal', errorCode: 'tune-no-data', template: 'There are no training examples left after the validation split.' },
  'tune.no-usable-examples': {
    severity: 'fatal',
    errorCode: 'tune-no-data',
    template:
      'No usable examples in {file}: all {rejected} were left out. Check the data to see why (for example, examples longer than {maxLength} tokens are left out).',
  },
  'tune.not-positive': { severity: 'fatal', errorCode: 'tune-setting', template: '{setting} must be greater than 0 (got {value}).' },
  'tune.resume-invalid': { severity: 'fatal', errorCode: 'tune-resume-invalid', template: '{file} cannot be read ({detail}).' },
  'tune.resume-missing': { severity: 'fatal', errorCode: 'tune-resume-missing', template: '{dir} is not a tuning run folder (it has no config.json).' },
  'tune.run-exists': { severity: 'fatal', errorCode: 'tune-run-exists', template: '{dir} already holds a tuning run. Resume that run, or choose another folder.' },
  'tune.setting-invalid': { severity: 'fatal', errorCode: 'tune-setting', template: 'The setting {setting}: {problem}' },
  'tune.resume-settings-invalid': { severity: 'fatal', errorCode: 'tune-resume-invalid', template: '{file}: {detail}' },
  'tune.targets': { severity: 'fatal', errorCode: 'tune-targets', template: 'Unknown target module(s): {targets}. Choose from {choices}.' },
  'tune.template-missing': {
    severity: 'fatal',
    errorCode: 'template-missing',
    template:
      '{model} has no chat template. Choose one of Attune\'s templates (alpaca, chatml or llama3).',
  },
  'tune.train-tokens': { severity: 'fatal', errorCode: 'tune-train-tokens', template: 'Token id {id} is outside the vocabulary (0-{last}).' },

  // ── weights: weight files (safetensors, GGUF): the file's name, then what is wrong ─────────
  'weights.corrupt': { severity: 'fatal', template: '{name}: {detail}' }, // structure is inconsistent: truncated, overlapping, bad header
  'weights.io': { severity: 'fatal', template: '{name}: {detail}' }, // the file could not be read or written
  'weights.mismatch': { severity: 'fatal', template: '{name}: {detail}' }, // inputs disagree with each other (shapes, names, config)
  'weights.unsupported': { severity: 'fatal', template: '{name}: {detail}' }, // well-formed, but uses something Attune cannot handle yet

  // ── workspace: the workspace folder ────────────────────────────────────────────────────────
  'workspace.outside': { severity: 'fatal', errorCode: 'path-outside-workspace', template: 'That location is outside the workspace folder.' },
  'workspace.relative': { severity: 'fatal', errorCode: 'workspace-relative', template: 'The workspace must be an absolute folder path.' },
  // ── data: the file as a whole ───────────────────────────────────────────────────────────
  'data.file-unreadable': { severity: 'fatal', template: 'Could not open {file}: {detail}.' },
  'data.file-empty': { severity: 'fatal', template: '{file} is empty, so there are no examples to import.' },
  'data.format-unknown': {
    severity: 'fatal',
    template:
      'Could not tell what kind of file {file} is. Attune reads JSON or JSONL (Alpaca, Dolly, ShareGPT, OpenAI chat), CSV/TSV, Excel (.xlsx) and plain text with Q:/A: pairs. If it is one of these, choose the format by hand (--format).',
  },
  'data.format-mismatch': { severity: 'fatal', template: '{file} does not look like a {format} file: {detail}.' },
  'data.format-detected': { severity: 'info', template: '{file} was read as {formatName}{detail}.' },
  'data.encoding-fallback': {
    severity: 'info',
    template: '{file} is not saved as UTF-8, so it was read as {encoding}. If accented letters look wrong, save the file as UTF-8 and import it again.',
  },
  'data.missing-column': {
    severity: 'fatal',
    template: 'There is no column called "{column}" in {file}. The columns are: {columns}.',
  },
  'data.columns-unrecognised': {
    severity: 'fatal',
    template:
      'Could not tell which column of {file} holds the questions and which holds the answers (the columns are: {columns}). Say which is which, for example --map instruction="{first}",response="{second}".',
  },
  'data.columns-guessed': {
    severity: 'info',
    template: 'The column names of {file} were not recognised, so "{instruction}" was taken as the question and "{response}" as the answer.',
  },
  'data.sheet-not-found': { severity: 'fatal', template: 'There is no sheet called "{sheet}" in {file}. The sheets are: {sheets}.' },
  'data.map-invalid': {
    severity: 'fatal',
    template: 'The column mapping "{detail}" is not understood. Write it like instruction=Question,response=Answer (optional: context=..., system=...).',
  },
  'data.no-examples': { severity: 'fatal', template: 'Nothing could be imported from {file}: {detail}' },
  'data.output-exists': {
    severity: 'fatal',
    template: '{file} already exists. Choose another name, or allow replacing it (--force).',
  },
  'data.output-is-input': { severity: 'fatal', template: 'The output file must not be the file being imported ({file}): the original is never changed.' },
  'data.problems-truncated': {
    severity: 'info',
    template: '{count} more problems of this kind ({codeName}) are counted but not listed one by one.',
  },

  // ── data: one row / line / record ───────────────────────────────────────────────────────
  'data.invalid-json': {
    severity: 'error',
    template: '{where}: this is not valid JSON ({detail}), so the example could not be read.',
  },
  'data.json-structure': { severity: 'warning', template: '{where}: {detail}.' },
  'data.not-an-object': {
    severity: 'error',
    template: '{where}: expected one example written as {"…": …} but found {found}.',
  },
  'data.missing-field': {
    severity: 'error',
    template: '{where}: {field} is missing, and every example needs one.',
  },
  'data.wrong-type': { severity: 'error', template: '{where}: {field} should be {expected} but is {found}.' },
  'data.mixed-formats': {
    severity: 'error',
    template: '{where}: this example is written as {other}, but the rest of the file is {format}; write it like the others.',
  },
  'data.empty-instruction': {
    severity: 'error',
    template: '{where}: {field} is empty, so the model would not know what question this answer belongs to.',
  },
  'data.empty-response': {
    severity: 'error',
    template: '{where}: {field} is empty, so there is nothing for the model to learn from this example.',
  },
  'data.empty-message': { severity: 'error', template: '{where}: {field} is empty; every message in a conversation needs some text.' },
  'data.edit-empty': { severity: 'error', template: 'Example {n}: the {field} is empty; write some text, or remove the example instead.' },
  'data.undo-nothing': { severity: 'error', template: 'There is no removed example to bring back.' },
  'data.no-messages': { severity: 'error', template: '{where}: the conversation has no messages.' },
  'data.unknown-role': {
    severity: 'error',
    template: '{where}: {field} has the role "{role}", which Attune does not know. Use {roles}.',
  },
  'data.system-not-first': {
    severity: 'error',
    template: '{where}: {field} is a system message, but a system message can only come first in a conversation.',
  },
  'data.first-not-user': {
    severity: 'error',
    template: '{where}: the conversation starts with the assistant; it should start with a question from the user.',
  },
  'data.roles-not-alternating': {
    severity: 'error',
    template: '{where}: {field} is a second {role} message in a row; user and assistant messages must take turns.',
  },
  'data.not-ending-with-assistant': {
    severity: 'error',
    template: '{where}: the conversation ends with a {role} message, so there is no answer for the model to learn. End it with the assistant\'s reply.',
  },
  'data.duplicate': {
    severity: 'warning',
    template: '{where}: this example is exactly the same as {first}; the copy is left out.',
  },
  'data.near-duplicate': {
    severity: 'warning',
    template:
      '{where}: this example is almost the same as {first} ({similarity}% alike). Both are kept: rewording a question on purpose teaches the model that the wording does not matter. If one is an accidental copy, delete it, or leave such near copies out (--drop-near-duplicates, or "Leave out near duplicates" in the app).',
  },
  'data.near-duplicate-dropped': {
    severity: 'warning',
    template: '{where}: this example is almost the same as {first} ({similarity}% alike); it is left out because you asked to leave out near duplicates.',
  },
  'data.too-long': {
    severity: 'error',
    template:
      '{where}: this example is {tokens} tokens long, more than the {maxLength} tokens the model can read at once. Shorten it or split it into several examples.',
  },
  'data.maybe-too-long': {
    severity: 'warning',
    template:
      '{where}: this example is about {tokens} tokens long (estimated without a model), more than {maxLength}; it is kept, but check it again once a model is chosen.',
  },
  'data.mojibake': {
    severity: 'error',
    template:
      '{where}: {field} contains garbled characters ("{sample}"), which happens when a file saved in one text encoding is read in another. Fix the text (or save the file as UTF-8) and import again.',
  },
  'data.encoding-invalid': {
    severity: 'error',
    template: '{where}: {field} contains characters that could not be read (shown as "\uFFFD"). Save the file as UTF-8 and import again.',
  },
  'data.question-marks': {
    severity: 'error',
    template:
      '{where}: {field} has question marks where letters should be ("{sample}"). This happens when text is saved in an encoding that lacks those letters, and the letters are lost. Fix the text at its source (save the original as UTF-8) and import again.',
  },
  'data.private-use': {
    severity: 'error',
    template:
      '{where}: {field} contains characters that belong to no alphabet ({sample}), which comes from a symbol font or from reading the text in the wrong encoding. Replace them with ordinary text and import again.',
  },
  'data.file-misdecoded': {
    severity: 'warning',
    template:
      'Most rows of {file} ({count} of {rows}) have garbled text: the file was saved or read in the wrong text encoding at some point. Open the original in the program that made it, save it again as UTF-8 (in Excel: "Save as" and choose "CSV UTF-8"), and import that file.',
  },
  'data.csv-malformed': {
    severity: 'error',
    template: '{where}: this row could not be read ({detail}). Check its quotation marks.',
  },
  'data.extra-columns': { severity: 'info', template: '{where}: this row has more cells than the header has columns; the extra cells are ignored.' },
  'data.qa-unpaired': { severity: 'error', template: '{where}: {detail}' },
  'data.line-too-long': {
    severity: 'error',
    template: '{where}: this line is longer than {limit} characters, so it was not read. One example per line is expected.',
  },
  'data.preference-identical': {
    severity: 'error',
    template: '{where}: the chosen and the rejected answers are the same, so there is no preference to learn. Write the better answer as "chosen".',
  },
  'data.preference-no-prompt': {
    severity: 'error',
    template: '{where}: {field} gives no question to answer. Add a "prompt" field, or write the whole conversation ("Human: … Assistant: …", or a list of messages) in both "chosen" and "rejected".',
  },
  'data.preference-diverge': {
    severity: 'error',
    template: '{where}: the chosen and rejected conversations should be the same up to the last answer, but they differ at turn {turn}.',
  },
  'data.preference-not-answer': {
    severity: 'error',
    template: '{where}: {field} should be the assistant\'s answer, but {detail}.',
  },
  // ── corrections (rate and fix answers) ─────────────────────────────────────────────────
  'corrections.no-question': { severity: 'error', template: 'There is no question to attach this answer to: the conversation should end with your question.' },
  'corrections.empty': { severity: 'error', template: 'The corrected answer is empty. Write the answer the model should have given.' },
  'corrections.unchanged': { severity: 'error', template: 'The corrected answer is the same as the model\'s answer. Change it to the answer you want, or give it a thumbs up instead.' },
  'corrections.none': { severity: 'error', template: 'There are no corrections yet. Give a wrong answer a thumbs down and write the right one first.' },
  'corrections.not-teach-again': { severity: 'error', template: 'This run did not learn from your corrections, so there is no before and after to show. Use "Teach it again" in the Chat step first.' },
  // ── tune ─────────────────────────────────────────────────────────────────────────────────
  'tune.no-pairs': {
    severity: 'fatal',
    template:
      'Preference tuning (DPO or ORPO) needs pairs of a better and a worse answer, but line {line} of {file} has only one answer. Use a file with "chosen" and "rejected" answers, or tune with --method sft.',
  },
  'tune.reference-mismatch': {
    severity: 'fatal',
    errorCode: 'checkpoint-mismatch',
    template: "The reference answers' scores in {file} do not match this run's data.",
  },
  'tune.beta-without-method': { severity: 'fatal', errorCode: 'tune-setting', template: 'A beta (--beta) is only used with --method dpo or orpo.' },
  'tune.rpo-alpha-without-dpo': {
    severity: 'fatal',
    errorCode: 'tune-setting',
    template: 'The weight of the chosen answers (--rpo-alpha) is only used with --method dpo (ORPO always learns the chosen answers).',
  },
  'data.template-error': {
    severity: 'error',
    template: '{where}: the model\'s chat template could not format this conversation ({detail}).',
  },
  'data.template-unstable': {
    severity: 'error',
    template:
      '{where}: the model\'s chat template writes earlier messages differently once later ones are added, so Attune cannot tell which words are the answer ({detail}). Choose another chat template (--template).',
  },

  // ── first run (src/main/services/first-run.ts) ───────────────────────────────────────────────
  'welcome.no-folder-chosen': { severity: 'fatal', errorCode: 'first-run.no-folder-chosen', template: 'Choose a folder first, or use the suggested one.' },
  'welcome.folder-unusable': { severity: 'fatal', errorCode: 'first-run.folder-unusable', template: 'Attune cannot keep projects in {file}: {detail}. Choose another folder.' },
  // ── hub: getting a model from the Hugging Face Hub (src/engine/sources/hub-pull.ts, resolve.ts) ──
  'hub.bad-repo-id': { severity: 'fatal', template: '"{repo}" is not a Hugging Face model name: write it as organisation/model, for example HuggingFaceTB/SmolLM2-135M-Instruct.' },
  'hub.token-format': {
    severity: 'fatal',
    errorCode: 'hub.bad-token',
    template: 'The Hugging Face token does not look right: a token starts with "hf_" and has only letters and digits. Copy it again from your Hugging Face settings (Access Tokens).',
  },
  'hub.bad-token': { severity: 'fatal', template: '{host} refused the Hugging Face token: check that it was copied whole and has not been deleted.' },
  'hub.gated': { severity: 'fatal', template: '{repo} is gated: accept its licence on {page} while signed in, then give a Hugging Face token (HF_TOKEN, or Settings in the app) and pull again.' },
  'hub.gated-no-access': {
    severity: 'fatal',
    errorCode: 'hub.gated',
    template: 'Your Hugging Face token does not have access to {repo} yet: accept its licence on {page} with the same account, then pull again.',
  },
  'hub.repo-not-found': { severity: 'fatal', template: 'There is no model {repo} on {host}. Check the name.' },
  'hub.repo-not-found-no-token': {
    severity: 'fatal',
    errorCode: 'hub.repo-not-found',
    template: 'There is no model {repo} on {host} (if it is private, give a Hugging Face token). Check the name.',
  },
  'hub.revision-not-found': { severity: 'fatal', template: '{repo} has no revision "{revision}" on {host}. Check the branch, tag or commit.' },
  'hub.file-not-found': { severity: 'fatal', template: 'A file of {repo} is listed but missing on {host}; try again later.' },
  'hub.forbidden': { severity: 'fatal', template: '{host} does not allow downloading {repo} with this token.' },
  'hub.server-error': { severity: 'fatal', template: '{host} answered with an error (HTTP {status}) for {repo}; try again later.' },
  'hub.server-error-repeated': {
    severity: 'fatal',
    errorCode: 'hub.server-error',
    template: '{host} answered with an error (HTTP {status}) for {repo} several times; try again later. What was downloaded so far is kept.',
  },
  'hub.no-commit': { severity: 'fatal', errorCode: 'hub.bad-answer', template: '{host} did not say which version of {repo} "{revision}" is; try again later.' },
  'hub.bad-index': {
    severity: 'fatal',
    errorCode: 'hub.bad-answer',
    template: 'The weights index of {repo} (model.safetensors.index.json) is not valid, so Attune cannot tell which files make up the model.',
  },
  'hub.bad-file-entry': { severity: 'fatal', errorCode: 'hub.bad-answer', template: '{host} listed a file of {repo} with an unusable name or hash ({path}).' },
  'hub.not-a-model': {
    severity: 'fatal',
    errorCode: 'model-format',
    template: '{repo} is not a model Attune can use: {reason}. Attune needs config.json, tokenizer.json and .safetensors weights.',
  },
  'hub.unreachable': { severity: 'fatal', template: 'Could not reach {host}: check the internet connection. What was downloaded so far is kept.' },
  'hub.unreachable-endpoint': {
    severity: 'fatal',
    errorCode: 'hub.unreachable',
    template: 'Could not reach {host}: check the internet connection and the address {endpoint} (HF_ENDPOINT). What was downloaded so far is kept.',
  },
  'hub.cancelled': { severity: 'info', template: 'The download of {repo} was cancelled; pull again to continue where it stopped.' },
  'hub.checksum': {
    severity: 'fatal',
    template:
      'The downloaded {file} of {repo} does not match the {hash} the Hub gives for it ({expected}…, got {actual}…): the copy was damaged on the way, so it was deleted. Pull again.',
  },
  'hub.disk-full': {
    severity: 'fatal',
    template:
      'Not enough free disk space to download {repo}: it needs {needed} more and the disk holding {folder} has {free} free. Free some space and pull again; what was downloaded so far is kept.',
  },
  'hub.disk-full-writing': {
    severity: 'fatal',
    errorCode: 'hub.disk-full',
    template: 'The disk is full: Attune could not write {file}. Free some space and pull again; what was downloaded so far is kept.',
  },
  'hub.cache-unwritable': { severity: 'fatal', template: 'Attune may not write to {folder}, where downloaded models are kept. Ask whoever looks after this computer to let your account change that folder (from the command line, HF_HUB_CACHE or HF_HOME choose another one).' },
  'hub.not-downloaded': {
    severity: 'fatal',
    template: "{name} is not on this computer yet (looked in {folder}). Download it with `attune models pull {pullArgs}` or from the app's Model step.",
  },
  'hub.incomplete': { severity: 'fatal', template: 'The download of {repo} is not complete ({reason}). Pull it again to finish it: `attune models pull {repo}`.' },
  // The app's Settings keep the token (src/main/services/hub-token.ts).
  'hub.token-not-a-token': {
    severity: 'fatal',
    errorCode: 'hub.bad-token',
    template: 'That does not look like a Hugging Face token: a token starts with "hf_" followed by letters and digits. Copy it again from your Hugging Face settings (Access Tokens).',
  },
  'hub.bad-endpoint': {
    severity: 'fatal',
    template: '"{value}" is not a web address Attune can download from: write it in full, starting with https:// or http://, for example https://huggingface.co. Leave it empty to use the Hugging Face Hub.',
  },
  'hub.token-unprotected': {
    severity: 'fatal',
    template:
      'This computer has no password store (keyring) where Attune could keep the token safe, so it will not save it. Public models download without a token. For a gated one, ask whoever looks after this computer to set up a keyring, or to start Attune with the token in the HF_TOKEN environment variable.',
  },
  // ── catalog: resources/models-catalog.json (src/engine/sources/catalog.ts) ───────────────────
  'catalog.no-models': { severity: 'fatal', errorCode: 'catalog.invalid', template: 'resources/models-catalog.json has no "models" list.' },
  'catalog.model-field': { severity: 'fatal', errorCode: 'catalog.invalid', template: 'resources/models-catalog.json: model {index} has no valid "{key}" ({type}).' },
  // ── models: the list of models on this computer (src/engine/sources/list.ts) ────────────────
  'models.added-invalid': { severity: 'fatal', template: '{file} is not valid JSON; delete it to start the list of added models again.' },
  'models.path-not-found': { severity: 'fatal', errorCode: 'model-not-found', template: '{path} does not exist. Give a model folder (with config.json) or a .gguf file.' },
  // ── tune --estimate (src/engine/train/estimate.ts) ──────────────────────────────────────────
  'tune.estimate-cancelled': { severity: 'info', template: 'The time estimate was cancelled.' },
  'tune.estimate-too-short': { severity: 'fatal', template: 'There are too few training steps in this data to time (at least two are needed): add examples or lower the batch size.' },
  // ── the Data step's own words about a person's file, and runs tied to their data (#19) ───────
  'data.not-examples-file': {
    severity: 'fatal',
    template: '“{name}” looks like {what}, which Attune cannot read examples from. Attune reads {readable}. Save your questions and answers in one of these, then add that file.',
  },
  'data.kind-unknown': {
    severity: 'fatal',
    template: 'Attune could not tell what kind of file “{name}” is. It reads {readable}. Save your questions and answers in one of these, then add that file.',
  },
  'data.original-unreadable': {
    severity: 'fatal',
    template: 'Attune could not open “{name}”: {detail}. Check that the file is still there and that you may open it, then choose it again.',
  },
  'run.discard-live': { severity: 'fatal', template: 'This run is still training. Pause or cancel it first, then discard it.' },
  'data.replace-while-tuning': {
    severity: 'fatal',
    template: 'A tune of this project is running. Pause or cancel it first, or confirm that you want to replace the examples anyway (the running tune keeps its own copy).',
  },
} as const);

export type DiagnosticCode = keyof typeof DIAGNOSTICS;

/** Fills `{name}` placeholders; unknown names are left visible rather than silently dropped. */
export function fillTemplate(template: string, params: DiagnosticParams): string {
  return template.replace(/\{(\w+)\}/g, (m, name: string) => {
    const v = params[name];
    return v === undefined ? m : String(v);
  });
}

export function formatDiagnostic(code: DiagnosticCode, params: DiagnosticParams = {}): string {
  return fillTemplate(DIAGNOSTICS[code].template, params);
}

export function diagnostic(code: DiagnosticCode): DiagnosticEntry {
  return DIAGNOSTICS[code];
}
