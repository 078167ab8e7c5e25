import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'electron-vite';

export default defineConfig({
  main: {
    build: {
      rollupOptions: {
        input: {
          index: resolve('src/main/index.ts'),
          'tune-worker': resolve('src/main/jobs/tune-worker.ts'),
          'probe-worker': resolve('src/main/jobs/probe-worker.ts'),
          'estimate-worker': resolve('src/main/jobs/estimate-worker.ts'),
          // The headless CLI, so the installed app carries a working engine without tsx.
          cli: resolve('src/cli/main.ts'),
        },
      },
    },
  },
  preload: {
    // A sandboxed preload must be one CommonJS file with its dependencies bundled in.
    build: {
      externalizeDeps: false,
      rollupOptions: {
        input: { index: resolve('src/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs', inlineDynamicImports: true },
      },
    },
  },
  renderer: {
    root: 'src/renderer',
    plugins: [react()],
    build: {
      rollupOptions: { input: { index: resolve('src/renderer/index.html') } },
    },
  },
});
