#!/usr/bin/env node
// `npm run package`: builds the app (electron-vite) and the installers for the platform this runs
// on (electron-builder.yml: NSIS on Windows, dmg on macOS, AppImage and deb on Linux) into dist/.
// Only architectures that onnxruntime-node ships a binary for are built (1.30.0 has none for
// Intel Macs); the others are named and skipped. Extra arguments go to electron-builder
// (`npm run package -- --dir` for an unpacked folder only).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FLAGS = { linux: '--linux', darwin: '--mac', win32: '--win' };
const ARCHS = { linux: [process.arch], darwin: ['arm64', 'x64'], win32: ['x64', 'arm64'] };
const platform = process.platform;
if (!FLAGS[platform]) {
  console.error(`Attune has no installer for ${platform}.`);
  process.exit(1);
}
const binding = (arch) => path.join(root, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', platform, arch, 'onnxruntime_binding.node');
const archs = ARCHS[platform].filter((arch) => {
  if (existsSync(binding(arch))) return true;
  console.warn(`Skipping ${platform} ${arch}: onnxruntime-node ships no binary for it in this version.`);
  return false;
});
if (!archs.length) {
  console.error(`onnxruntime-node has no binary for ${platform} here: nothing to package.`);
  process.exit(1);
}

const bin = (name) => path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? `${name}.cmd` : name);
const run = (cmd, args) => {
  console.log(`> ${path.basename(cmd)} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run(bin('electron-vite'), ['build']);
run(bin('electron-builder'), [FLAGS[platform], ...archs.map((a) => `--${a}`), '--publish', 'never', ...process.argv.slice(2)]);
