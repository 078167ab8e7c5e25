/**
 * Prints the plain closing line CI reads ("N passed, N failed, N skipped") after vitest's own
 * report, counted from vitest's task results.
 */
import type { Reporter, RunnerTestFile, RunnerTask } from 'vitest';

export default class SummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = []): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const walk = (t: RunnerTask) => {
      if (t.type === 'test') {
        const state = t.result?.state;
        if (state === 'pass') passed++;
        else if (state === 'fail') failed++;
        else skipped++;
      } else if ('tasks' in t) t.tasks.forEach(walk);
    };
    for (const f of files) {
      if (f.result?.state === 'fail' && f.tasks.length === 0) failed++; // a file that failed to load
      f.tasks.forEach(walk);
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
