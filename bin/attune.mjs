#!/usr/bin/env node
// The CLI runs the TypeScript sources directly through tsx, so `npx attune` works after `npm ci`
// with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
