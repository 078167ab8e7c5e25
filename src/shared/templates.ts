/** The engine's named chat templates, for models that have none (or to override theirs). */
export const TEMPLATE_NAMES = ['alpaca', 'chatml', 'llama3'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

/** The template the app formats conversations with when a model has none of its own. */
export const FALLBACK_TEMPLATE: TemplateName = 'chatml';
