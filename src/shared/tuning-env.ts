/**
 * Environment for a tuning process, read by glibc at process start only: set for the app's
 * worker, or by the CLI re-running itself. Ignored on macOS and Windows.
 *
 * With "save memory" on (recomputed activations): glibc keeps freed buffers below its
 * self-raising mmap threshold in its heap and rarely returns them, so after a few steps a process
 * holds gigabytes it no longer uses. A fixed 1 MiB threshold maps every activation-sized buffer
 * and gives it back when freed. Measured on a 1.5B model: peak 6.6-7.6 -> 4.6 GiB (int4,
 * recomputed, batch 4) and 8.0-9.9 -> 6.8 GiB (int4, batch 2), but the fresh pages cost time (a
 * batch-2 step 20-27 -> 29-31 s), so only the memory-saving mode pays it.
 *
 * Otherwise (the app's worker) glibc asks the kernel for transparent huge pages where it gives
 * them on request (Linux's default "madvise" mode): a step's buffers fault in 2 MiB at a time.
 * Measured on the 30-layer 135M step (4 x 256): page faults 615k -> 55k, the first step
 * 7.3-8.2 -> 5.5-6.3 s, later steps 5-8% faster, the same peak memory (2.78 GB).
 */
const TRANSPARENT_HUGE_PAGES = 'glibc.malloc.hugetlb=1';

/** `hugePages: false` leaves out the speed setting (the CLI re-runs itself only for memory). */
export function tuningProcessEnv(saveMemory: boolean, hugePages = true): Record<string, string> {
  if (saveMemory) return { MALLOC_MMAP_THRESHOLD_: '1048576' };
  return hugePages ? { GLIBC_TUNABLES: TRANSPARENT_HUGE_PAGES } : {};
}
