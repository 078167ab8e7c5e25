/** Numbers as a person reads them. */
export function formatBytes(n: number | undefined): string {
  if (n === undefined) return 'unknown';
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function formatCount(n: number | undefined): string {
  if (n === undefined) return 'unknown';
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} billion`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} million`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} thousand`;
  return String(n);
}

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return 'working it out…';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `about ${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  if (m < 60) return `about ${m} minute${m === 1 ? '' : 's'}`;
  const h = Math.floor(m / 60);
  return `about ${h} hour${h === 1 ? '' : 's'} ${m % 60} min`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** A decimal for reading: at most `digits` after the point, no trailing zeros (0.1506849 -> "0.15"). */
export function formatNumber(x: number | undefined, digits = 2): string {
  if (x === undefined || !Number.isFinite(x)) return 'unknown';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, useGrouping: Math.abs(x) >= 10_000 });
}

/** "all 12 steps", "its only step". */
export function allOf(n: number, one: string, many = `${one}s`): string {
  return n === 1 ? `its only ${one}` : `all ${n} ${many}`;
}

/** How far through the examples a run is: "pass 1 of 3 over your examples (15% through it)"; epoch 1.0 is the end of pass 1. */
export function formatEpoch(epoch: number, epochs?: number): string {
  const pass = Math.max(1, Math.ceil(epoch - 1e-9));
  const within = Math.round((epoch - (pass - 1)) * 100);
  return `pass ${pass}${epochs ? ` of ${epochs}` : ''} over your examples (${Math.max(0, Math.min(100, within))}% through it)`;
}

/** When something happened, in the person's own locale: "4 Dec, 04:41". */
export function formatWhen(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}
