/** The projections of a decoder layer a LoRA adapter can adapt (engine: models/lora-targets.ts). */
export const LORA_TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];
