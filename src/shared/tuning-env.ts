/**
 * Environment for a process that tunes. glibc keeps freed buffers below its (self-raising) mmap
 * threshold in its heap and rarely returns them, so after a few training steps the process holds
 * gigabytes it no longer uses. With a fixed 1 MiB threshold every activation-sized buffer is
 * mapped and given back when freed: measured on a 1.5B model (int4, recomputed activations,
 * batch 4), peak 6.6-7.6 -> 4.6 GiB and 5.5 -> 1.8 GiB held between steps. Read by glibc at
 * process start only, so it is set for the worker (app) or by re-running the CLI once (bin/).
 * Ignored on macOS and Windows.
 */
export const TUNING_PROCESS_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '1048576' };
