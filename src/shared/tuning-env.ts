/**
 * Environment for a process that tunes with "save memory" on (recomputed activations). glibc
 * keeps freed buffers below its self-raising mmap threshold in its heap and rarely returns them,
 * so after a few steps a process holds gigabytes it no longer uses. A fixed 1 MiB threshold maps
 * every activation-sized buffer and gives it back when freed. Measured on a 1.5B model: peak
 * 6.6-7.6 -> 4.6 GiB (int4, recomputed, batch 4) and 8.0-9.9 -> 6.8 GiB (int4, batch 2), but the
 * fresh pages cost time (a batch-2 step 20-27 -> 29-31 s), so only the memory-saving mode pays it.
 * Read by glibc at process start only: set for the app's worker, or by the CLI re-running itself.
 * Ignored on macOS and Windows.
 */
export function tuningProcessEnv(saveMemory: boolean): Record<string, string> {
  return saveMemory ? { MALLOC_MMAP_THRESHOLD_: '1048576' } : {};
}
