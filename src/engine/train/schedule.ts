/** Learning-rate schedules: linear warmup, then cosine, linear or constant. */
export type LrSchedule = 'cosine' | 'linear' | 'constant';

export function learningRate(step: number, totalSteps: number, peak: number, warmup: number, schedule: LrSchedule): number {
  // `step` is 1-based: the first optimizer step already uses a non-zero rate.
  if (warmup > 0 && step <= warmup) return (peak * step) / warmup;
  if (schedule === 'constant') return peak;
  const span = Math.max(1, totalSteps - warmup);
  const progress = Math.min(1, Math.max(0, (step - warmup) / span));
  if (schedule === 'linear') return peak * (1 - progress);
  return peak * 0.5 * (1 + Math.cos(Math.PI * progress));
}
